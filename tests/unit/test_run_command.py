"""`stoppoc run --help` tells an operator how to reach the probes and the metrics."""

from click.testing import CliRunner

from stoppoc.cli.main import main


def test_run_help_names_the_http_port_and_the_three_endpoints():
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    assert "STOPPOC_HTTP_PORT" in result.output
    assert all(path in result.output for path in ("/health/live", "/health/ready", "/metrics"))
