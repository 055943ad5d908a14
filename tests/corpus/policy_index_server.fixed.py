"""An MCP server that runs cloud CLI commands and checks each against a read-only index."""

import logging

logger = logging.getLogger(__name__)

READ_ONLY_INDEX = None
SAFE_SERVICES = None


class CommandDenied(Exception):
    pass


def load_indexes(loader):
    global READ_ONLY_INDEX, SAFE_SERVICES
    try:
        READ_ONLY_INDEX = loader.read_only_operations()
    except Exception as exc:
        logger.warning("could not load the read-only index: %s", exc)
        READ_ONLY_INDEX = None
    try:
        SAFE_SERVICES = loader.safe_services()
    except Exception as exc:
        logger.error("could not load the safe services: %s", exc)
        raise


def run_command(command, runner):
    if READ_ONLY_INDEX is None:
        raise PermissionError("READ_ONLY_INDEX did not load: refusing")
    if READ_ONLY_INDEX is not None:  # expect: FC141
        if not READ_ONLY_INDEX.allows(command.service, command.operation):
            raise CommandDenied(f"{command.service} {command.operation} is not read-only")
    return runner.run(command)


def run_service_command(command, runner):
    if SAFE_SERVICES is None:
        raise CommandDenied("the safe services list is not loaded")
    if command.service not in SAFE_SERVICES:
        raise CommandDenied(f"{command.service} is not a safe service")
    return runner.run(command)


def describe(command):
    if READ_ONLY_INDEX is not None:
        return f"{command.service} {command.operation} (checked)"
    return f"{command.service} {command.operation}"
