"""Hostile Python guest for Marvin's tests: on its first bars it misbehaves as `mode` says.

- `loop`: spins forever (fuel or the deadline must stop it);
- `bomb`: allocates 1 MiB blocks without end (the memory cap must stop it).
"""

from weaver_strategy import Strategy, export

_hoard = []


class Hostile(Strategy):
    def __init__(self, config):
        self.mode = config.params.get("mode", "loop")

    def on_bar(self, ctx, symbol, ts, o, h, l, c, v):
        if self.mode == "loop":
            n = 0
            while True:
                n += 1
        elif self.mode == "bomb":
            while True:
                _hoard.append(bytearray(1 << 20))


Guest = export(Hostile)
