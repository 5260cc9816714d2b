"""How lstmgen meets the machine: the lowest layer, imported by every other and importing none of them.

    runtime.py        threads (the automatic count reads the machine's load), devices, the CPU's flags
    console.py        log lines, the progress bar, Ctrl-C that saves before it stops
    durable.py        writes that survive a crash: fsync, rename, directory fsync, the directory swap
    untrusted.py      reading files lstmgen did not write: regular files only, bounded sizes, checked JSON
    locks.py          the one module that locks files (the run lock, the token store's preparation)
    run_directory.py  the names of what a run directory holds (best/, last/, metrics.jsonl, ...) and its lock

Nothing here imports torch at module level, so the CLI's --help and ``lstmgen prepare`` stay light.
"""
