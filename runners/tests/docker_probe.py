"""Whether a Docker daemon answers (DOCKER_HOST or the default socket): asked once per test session, and only by the
tests that need to know."""
import functools
import subprocess


@functools.lru_cache(maxsize=None)
def docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
