# syntax=docker/dockerfile:1
# session-queue image: build with `docker build -t session-queue:0.1.0 .` (see docs/k8s.md).
# Three stages: npm fetches the pinned htmx, pip builds the app into a virtualenv, and a slim
# runtime stage gets only the virtualenv, templates, static files and htmx's dist/ — no compilers,
# no npm, no test or dev dependencies.
#
# Both base images are build arguments. The defaults are the public images; any Debian bookworm
# root filesystem works instead, as long as the Python base has python (python-is-python3),
# python3-venv, passwd and ca-certificates, and the Node base has nodejs, npm and ca-certificates.
# tests/deploy builds exactly such bases with mmdebstrap (see docs/k8s.md, "Building the image").

ARG NODE_IMAGE=node:22-bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${NODE_IMAGE} AS assets
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: htmx needs none, and no package gets to run code in our build.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
 && test -f node_modules/htmx.org/dist/htmx.min.js

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# README.md is the package's long description (pyproject "readme"); the wildcard keeps a checkout
# without it buildable.
COPY pyproject.toml README.md* ./
COPY webapp ./webapp
# A regular (non-editable) install of the project alone: no [test] or [dev] extras.
RUN pip install . \
 && python -c "import webapp.app"

FROM ${PYTHON_IMAGE} AS runtime
# Bytecode was compiled at install time; the root filesystem is read-only on Kubernetes.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=8000
# A numeric, fixed uid so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
# The app finds templates/, static/ and node_modules/ in its working directory when they are not
# beside the installed package (webapp.app.project_root).
WORKDIR /app
COPY templates ./templates
COPY static ./static
COPY --from=assets /src/node_modules/htmx.org/dist ./node_modules/htmx.org/dist
USER 10001:10001
EXPOSE 8000
# No curl in slim images: ask /livez with the standard library.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/livez', timeout=2)"]
# Exec form: python is PID 1 and receives SIGTERM itself, so uvicorn drains and the lease is released.
ENTRYPOINT ["python", "-m", "webapp"]
