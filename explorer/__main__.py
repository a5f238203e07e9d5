"""Allow ``python -m explorer``."""

from explorer.cli.main import app

if __name__ == "__main__":
    app(prog_name="explorer")
