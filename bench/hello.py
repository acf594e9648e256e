"""The ceiling for HTTP intake: a bare "hello" on the gateway's server stack (nameko's HTTP
entrypoint on eventlet's WSGI server, the same worker pool size), nothing behind it."""

from nameko.web.handlers import http


class HelloService:
    name = "hello"

    @http("POST", "/api/surveys/<token>/responses")
    def hello(self, request, token):
        request.get_data()
        return 201, '{"ok":true}'
