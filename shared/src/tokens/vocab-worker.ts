// Reads and parses one tokenizer.json off the main thread (vocab.ts: loadVocab).
import { readFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { parseVocab } from "./vocab.ts";

parentPort?.postMessage(parseVocab(readFileSync(workerData as string, "utf8")));
