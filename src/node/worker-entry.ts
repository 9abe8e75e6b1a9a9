/// <reference path="./comlink-node-adapter.d.ts" />
// The model's service in a worker thread (`ondevice/node` with `thread: 'worker'`): the same service
// as in a browser's worker, reached over comlink through worker_threads' message port.
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { installErrorTransfer } from '../worker/protocol.js';
import { ModelService } from '../worker/service.js';
import { nodeIo } from './io.js';

if (parentPort === null) throw new Error('ondevice: worker-entry runs in a worker thread');
installErrorTransfer();
Comlink.expose(new ModelService(nodeIo()), nodeEndpoint(parentPort));
