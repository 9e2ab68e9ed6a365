# Waypost's one image: `python worker.py` (worker, and `--setup` for the one-shot migrate),
# `waypost api` and `waypost codec-server`. See docker-compose.yml.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # The code runs from /app (migrations/ and policies/ are found beside it).
    PYTHONPATH=/app

WORKDIR /app

# The pinned dependencies first, in their own layer: rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY workflows workflows
COPY activities activities
COPY store store
COPY runtime runtime
COPY starter starter
COPY devtools devtools
COPY migrations migrations
COPY policies policies
COPY worker.py ./
# Only for the `waypost` command; the packages themselves run from /app. Compiled now, as
# the workers cannot write here: the workflow sandbox re-imports workflows/ for every run.
RUN pip install --no-deps . \
 && python -m compileall -q workflows activities store runtime starter devtools worker.py \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin waypost

USER waypost
EXPOSE 8000 8081 9464
# SIGTERM (docker stop) is a graceful stop: in-flight activities finish first.
STOPSIGNAL SIGTERM
CMD ["python", "worker.py"]
