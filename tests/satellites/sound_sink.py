"""A satellite's speaker for the tests: appends the raw PCM it is sent to a file and
logs when each reply's first bytes arrived and when it ended (one process per reply: the satellite
starts its sound command afresh after each audio-stop).

    python sound_sink.py OUT.raw LOG
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    out_path, log_path = sys.argv[1], sys.argv[2]
    first = True
    with open(out_path, "ab") as out:
        offset = out.tell()
        while chunk := sys.stdin.buffer.read1(4096):
            if first:
                with open(log_path, "a", encoding="utf-8") as log:
                    log.write(json.dumps({"first_audio": time.time(), "offset": offset}) + "\n")
                first = False
            out.write(chunk)
            out.flush()
    if not first:  # the reply's audio-stop: the satellite closed its player
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"last_audio": time.time()}) + "\n")


if __name__ == "__main__":
    main()
