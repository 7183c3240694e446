# One image for all five services: `eventyard run <service>` picks one.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts contracts
COPY shared shared
COPY services services
COPY cli cli
RUN pip install --no-cache-dir . && useradd --system --uid 10001 eventyard
USER eventyard
ENV EVENTYARD_HTTP_HOST=0.0.0.0 \
    EVENTYARD_CONFIG=/etc/eventyard/eventyard.toml \
    PYTHONUNBUFFERED=1
ENTRYPOINT ["eventyard"]
