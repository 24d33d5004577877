"""A WSGI application whose requests spend their time in one function of
their own, for gunicorn and Apache mod_wsgi (as app.wsgi). /interp answers
with the interpreter it runs in (mod_wsgi's application group)."""


def app_hot_function(n):  # @hot
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def application(environ, start_response):  # @application
    if environ.get("PATH_INFO") == "/interp":
        try:
            import mod_wsgi
            body = ("group=%r" % mod_wsgi.application_group).encode()
        except ImportError:
            body = b"group=None"
    else:
        body = str(app_hot_function(30000)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
