import { memoryBackend } from "./backends.ts";
import { storeConformance } from "./store_conformance.ts";

storeConformance(memoryBackend());
