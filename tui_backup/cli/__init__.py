"""The command line: argparse commands, rich progress, ``--json`` output."""
