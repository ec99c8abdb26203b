import sys

from archsim.cli import command

sys.exit(command())
