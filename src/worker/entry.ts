/// <reference lib="webworker" />
import * as Comlink from 'comlink';
import { installErrorTransfer } from './protocol.js';
import { ModelService } from './service.js';

installErrorTransfer();
Comlink.expose(new ModelService());
