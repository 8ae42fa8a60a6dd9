# syntax=docker/dockerfile:1
# TaskTracker production image. Two stages: `build` turns the project and its dependencies into
# wheels and installs them into a virtualenv; `runtime` copies only that virtualenv onto a clean
# slim Python, runs as a non-root user and ships no compilers, no pip cache and no SecantusDB
# (GPL-2.0; only the `embedded`/`test` extras pull it in, and they are never installed here).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# The project without extras: `pip wheel .`, never `.[embedded]` or `.[test]`.
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl \
    && if /opt/venv/bin/pip show --quiet secantusdb 2>/dev/null; then \
         echo "SecantusDB must not be in the production image" >&2; exit 1; \
       fi

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="tasktracker" \
      org.opencontainers.image.description="TaskTracker API, SOA agent and scheduler" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 tasktracker \
    && useradd --system --uid 10001 --gid tasktracker --no-create-home \
       --home-dir /var/lib/tasktracker --shell /usr/sbin/nologin tasktracker \
    && install -d -o tasktracker -g tasktracker -m 0750 /var/lib/tasktracker
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/var/lib/tasktracker \
    LOG_DIR=/var/lib/tasktracker/log
WORKDIR /var/lib/tasktracker
USER 10001:10001
EXPOSE 8000
# Liveness of the API process; compose gives the agent and the scheduler probes of their own.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-m", "tasktracker.probe", "http://127.0.0.1:8000/healthz"]
# The same image runs `tasktracker agent` and `tasktracker scheduler` (see docker-compose.yml).
CMD ["tasktracker", "api"]
