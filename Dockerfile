FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY workflows workflows
COPY activities activities
COPY starter starter
COPY worker.py ./
COPY migrations migrations
COPY policies policies
RUN pip install --no-cache-dir .
USER nobody
CMD ["python", "worker.py"]
