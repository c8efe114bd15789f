# The headless gateway (`pbpm-desktop serve`) in a container: no Qt, no desktop libraries.
# Used by docker-compose.yml next to an `ollama/ollama` service; alone:
#   docker build -t pbpm-desktop . && docker run -p 8000:8000 -v pbpm-data:/data \
#     -e OLLAMA_URL=http://host.docker.internal:11434 --env-file pbpm.env pbpm-desktop
# The install step is the one CI runs and tests (packaging/docker/check_install.sh runs this
# file's `pip install` line in a fresh venv, starts `serve` and checks /health and no Qt).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# a dedicated unprivileged user owning only the data volume
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home pbpm \
    && mkdir /data && chown pbpm:pbpm /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY pbpm_desktop ./pbpm_desktop
COPY resources ./resources
RUN pip install ".[server,postgres]"

# DESIGN.md §2. No keyring in a container: the master key comes from MASTER_API_KEY (the env
# file) or, without it, is generated once into /data/master.key (0600).
ENV PBPM_DATA_DIR=/data \
    PBPM_HOST=0.0.0.0 \
    PBPM_PORT=8000 \
    PBPM_NO_KEYRING=1 \
    OLLAMA_URL=http://ollama:11434

USER pbpm
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
# SIGTERM (docker stop) ends in-flight requests and flushes the audit before exiting
STOPSIGNAL SIGTERM
ENTRYPOINT ["pbpm-desktop"]
CMD ["serve"]
