// Worker entry: type-checked on its own with lib WebWorker (tsconfig.worker.json).
import * as Comlink from 'comlink';
import { installErrorTransfer } from './protocol.js';
import { ModelService } from './service.js';

installErrorTransfer();
Comlink.expose(new ModelService());
