// Reads and parses one tokenizer.json off the main thread (vocab.ts: loadVocab).
import { parentPort, workerData } from "node:worker_threads";
import { parseVocab, readVocabText } from "./vocab.ts";

parentPort?.postMessage(parseVocab(readVocabText(workerData as string)));
