"""``python -m printctl`` runs the command-line interface."""

from printctl.cli import main

main()
