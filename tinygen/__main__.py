"""The `tinygen` command (console script and `python -m tinygen`).

Ctrl-C while the command is still loading ends it quietly with exit code 130, as a
signal during a run does; a run in progress handles its own signals.
"""

import sys

INTERRUPTED = 130  # tinygen.errors.ExitCode.INTERRUPTED, without importing anything yet


def main() -> None:
    """Import the command line and run it."""
    try:
        from tinygen.text.cores import no_blas_threads

        no_blas_threads()  # before anything imports numpy
        from tinygen.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)


if __name__ == "__main__":
    main()
