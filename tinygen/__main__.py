"""`python -m tinygen` runs the command line."""

from tinygen.cli import main

main()
