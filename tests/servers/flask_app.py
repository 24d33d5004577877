"""A Flask application served by the werkzeug development server with the
reloader on: the reloader process runs the application in a child (the same
command line), and watches the files while the child serves.

usage: flask_app.py PORT
"""
import sys

from flask import Flask

app = Flask(__name__)


def flask_handler_work(n):  # @handler_work
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


@app.route("/work")  # @route
def work():
    return str(flask_handler_work(30000))


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), use_reloader=True, debug=False)
