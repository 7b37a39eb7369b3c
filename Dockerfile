# bma-genetics: the same environment as `make setup`, for laptops, research platforms and clusters.
#   docker build -t bma-genetics .
#   docker run --rm -v "$PWD/runs:/app/runs" bma-genetics make demo
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless make \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md Makefile ./
COPY scripts ./scripts
COPY bma_genetics ./bma_genetics
# CPU torch first (a bare torch requirement pulls the multi-GB CUDA build), then the project.
RUN python -m pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && python -m pip install --no-cache-dir -e '.[dev]'
COPY analyses ./analyses
COPY notebooks ./notebooks
COPY tests ./tests
COPY benchmarks ./benchmarks
# Reference data is fetched into the image's cache so containers run offline.
ENV BMA_GENETICS_CACHE=/opt/bma-genetics-cache VENV=/usr/local
RUN bma-genetics reference fetch
CMD ["bma-genetics", "--help"]
