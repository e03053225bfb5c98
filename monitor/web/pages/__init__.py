"""The HTML pages of the web UI, one module per page (or group of pages), each with
``router = APIRouter()`` added to :func:`monitor.web.app.routers`."""
