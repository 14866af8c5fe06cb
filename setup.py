"""Install srsish: `pip install .` gives the `srsish` command."""
import re
from setuptools import find_packages, setup

with open("srsish/__init__.py", encoding="utf-8") as f:
    version = re.search(r'VERSION = "([^"]+)"', f.read()).group(1)

setup(
    name="srsish",
    version=version,
    description="A live-streaming origin server (RTMP, HTTP-FLV, HLS, DVR, HTTP callbacks) following SRS conventions",
    packages=find_packages(include=["srsish", "srsish.*"]),
    python_requires=">=3.11",
    install_requires=[
        "gevent>=23.9",
        "bottle>=0.12",
        "simplejson>=3.19",
        "configobj>=5.0.8",
        # A well-kept sans-IO HTTP/1.1 parser (bytes in, events out): reads the HTTP server's requests,
        # the same shape as our own protocol layer.
        "h11>=0.16",
        # A gevent-cooperative HTTP client with a per-host keep-alive pool, for hooks.
        "geventhttpclient>=2.0,<3",   # the hook client wraps two of its 2.x pool methods
        # Prometheus's own text renderer (and, in the tests, its parser) for the exporter: pure Python, no threads.
        "prometheus_client>=0.17",
    ],
    extras_require={
        # hypothesis: the parsers' property tests; matplotlib: the soak test's plot (tests/e2e/test_soak.py);
        # selenium: drives the Debian chromium + chromium-driver the README's test command installs
        "test": ["pytest>=7", "pytest-timeout>=2", "trustme>=1.0", "m3u8>=3.0", "hypothesis>=6", "matplotlib>=3.5",
                 "selenium>=4.10"],
    },
    entry_points={"console_scripts": ["srsish = srsish.main:main"]},
)
