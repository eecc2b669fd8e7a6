/** Read model of every stream: how far it has grown and what happened last. */
import { documentProjection } from './projection.ts';

export interface StreamSummary {
  [key: string]: string | number;
  stream: string;
  revision: number;
  events: number;
  firstPosition: number;
  lastPosition: number;
  lastType: string;
  lastTime: string;
}

export const streamCatalog = documentProjection<StreamSummary>({
  name: 'streams',
  version: 1,
  documentId: (e) => e.stream,
  initialState: () => ({ stream: '', revision: -1, events: 0, firstPosition: 0, lastPosition: 0, lastType: '', lastTime: '' }),
  evolve: (s, e) => ({
    stream: e.stream,
    revision: e.revision,
    events: s.events + 1,
    firstPosition: s.events === 0 ? e.position : s.firstPosition,
    lastPosition: e.position,
    lastType: e.type,
    lastTime: e.metadata.time,
  }),
});
