// Hostile JavaScript guest for Marvin's tests: on its first bars it misbehaves as `mode` says.
// - `loop`: spins forever (fuel or the deadline must stop it);
// - `bomb`: allocates 1 MiB blocks without end (the memory cap must stop it).

import { Strategy, exportStrategy } from "../../../../strategy-sdk/js/index.js";

const hoard = [];

class Hostile extends Strategy {
  constructor(config) {
    super(config);
    this.mode = config.params.get("mode") ?? "loop";
  }

  onBar(_ctx, _symbol, _bar) {
    if (this.mode === "loop") {
      let n = 0;
      for (;;) n += 1;
    } else if (this.mode === "bomb") {
      for (;;) hoard.push(new Float64Array(1 << 17));
    }
  }
}

export const guest = exportStrategy(Hostile);
