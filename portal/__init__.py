from flask import Blueprint

portal_blueprint = Blueprint("portal", __name__)
