# The failclosed GitHub App: the webhook receiver served by uvicorn on port 8000.
# Settings come from FAILCLOSED_* variables; mount the private key as a file and point
# FAILCLOSED_PRIVATE_KEY_PATH at it. The container refuses to start with placeholder secrets.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The same install CI does, from the repo's own files; the sources are removed afterwards.
COPY pyproject.toml README.md /tmp/failclosed/
COPY failclosed/__init__.py /tmp/failclosed/failclosed/
COPY app.yml /tmp/failclosed/failclosed/app.yml
COPY analyzers /tmp/failclosed/analyzers
COPY app /tmp/failclosed/app
RUN pip install --no-cache-dir '/tmp/failclosed[app]' \
    && rm -rf /tmp/failclosed \
    && useradd --create-home --uid 10001 --user-group failclosed

USER 10001:10001
WORKDIR /home/failclosed
EXPOSE 8000

# No curl in slim images: probe with the Python that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["failclosed", "serve", "--host", "0.0.0.0", "--port", "8000"]
