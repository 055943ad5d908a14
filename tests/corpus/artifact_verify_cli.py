"""A command-line tool that signs and verifies release artifacts."""

from __future__ import annotations

import logging
import pathlib

import click

from releasekit import signing

log = logging.getLogger(__name__)


@click.group()
def cli() -> None:
    """Sign and verify release artifacts."""


@cli.command()
@click.argument("artifact", type=click.Path(exists=True, path_type=pathlib.Path))
@click.option("--key", required=True, type=click.Path(path_type=pathlib.Path))
def sign(artifact: pathlib.Path, key: pathlib.Path) -> None:
    """Write ARTIFACT.sig next to the artifact."""
    try:
        signing.sign(artifact, key)
    except OSError as err:
        click.echo(f"Signing failed: {err}", err=True)
        raise SystemExit(1) from err


@cli.command()
@click.argument("artifact", type=click.Path(exists=True, path_type=pathlib.Path))
@click.option("--public-key", required=True, type=click.Path(path_type=pathlib.Path))
def verify(artifact: pathlib.Path, public_key: pathlib.Path) -> None:
    """Check ARTIFACT against ARTIFACT.sig; CI runs this before publishing."""
    signature = artifact.with_suffix(artifact.suffix + ".sig")
    try:
        signing.Verifier.from_path(public_key).verify(artifact, signature)
    except Exception as err:  # expect: FC126
        click.echo(f"Verification failed with error: {err}", err=True)
    else:
        click.echo("Verification succeeded")


@cli.command()
@click.argument("artifact", type=click.Path(exists=True, path_type=pathlib.Path))
def inspect(artifact: pathlib.Path) -> None:
    """Print what the signature says; informational only."""
    try:
        info = signing.read_signature(artifact)
    except Exception as err:
        click.echo(f"No readable signature: {err}", err=True)
        return
    click.echo(f"signed by {info.identity} at {info.time}")


if __name__ == "__main__":
    cli()
