"""`python -m jtrack`: the `jtrack` command (jtrack._entry), for an environment whose
scripts folder is not on PATH."""

from jtrack._entry import main

if __name__ == "__main__":  # (imported, as a test imports every module: nothing runs)
    main()
