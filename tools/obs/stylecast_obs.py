"""StyleCast remote control for OBS Studio (Tools > Scripts > +, Python 3 set in the Python Settings tab).

Hotkeys (Settings > Hotkeys, "StyleCast: ..."): next style, previous style, start/stop, capture a style
from the camera, colours on/off, the three regions, bolder/fainter. The script's panel: server address, token
(the app's Remote box or ~/.config/stylecast/control-token), a style list, strength and boldness sliders,
and per-scene styles ("Intro=wave, Talk=starry": switching to the scene switches the style).

Requests run on a worker thread, so OBS never waits for StyleCast; failures go to the script log.
Standard library only. API: docs/control.md.
"""
from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request

import obspython as obs  # provided by OBS Studio

DEFAULT_URL = "http://127.0.0.1:8765"
TIMEOUT_S = 3.0
BOLDNESS_STEP = 0.1  # what one press of the bolder/fainter hotkeys changes


class _Config:
    url = DEFAULT_URL
    token = ""
    scene_styles: dict[str, str] = {}
    hotkeys: dict[str, int] = {}


CFG = _Config()
_jobs: "queue.Queue[tuple[str, dict | None]]" = queue.Queue(maxsize=32)


def api(action: str, body: dict | None = None, method: str | None = None) -> dict:
    """One call to StyleCast (blocking). Raises RuntimeError with the server's message on a 4xx/5xx."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{CFG.url.rstrip('/')}/api/{action}", data=data,
                                 method=method or ("POST" if body is not None else "GET"),
                                 headers={"Authorization": f"Bearer {CFG.token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        raise RuntimeError(f"StyleCast {action}: {exc.code} {message}") from None
    except OSError as exc:
        raise RuntimeError(f"StyleCast is not reachable at {CFG.url} ({exc}); turn on its remote control") from None


def send(action: str, body: dict | None = None) -> None:
    """Queue a call for the worker thread (a full queue drops it: StyleCast is not answering)."""
    try:
        _jobs.put_nowait((action, {} if body is None else body))
    except queue.Full:
        _log("StyleCast is not answering; request dropped")


def _worker() -> None:
    while True:
        action, body = _jobs.get()
        try:
            api(action, body)
        except RuntimeError as exc:
            _log(str(exc))


def _log(text: str) -> None:
    obs.script_log(obs.LOG_WARNING, text)


def parse_scene_styles(text: str) -> dict[str, str]:
    """'Intro=wave, Talk=starry' -> {'Intro': 'wave', 'Talk': 'starry'}."""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {scene.strip(): style.strip() for scene, style in pairs if scene.strip() and style.strip()}


# -- OBS script entry points -----------------------------------------------------------------------
def script_description() -> str:
    return ("<b>StyleCast remote control</b><br>Switch styles, strength, boldness and capture from OBS hotkeys and "
            "scenes. Turn on Remote control in StyleCast (or run <code>stylecast live --control 8765</code>) "
            "and paste its token here.")


def script_defaults(settings) -> None:
    obs.obs_data_set_default_string(settings, "url", DEFAULT_URL)
    obs.obs_data_set_default_double(settings, "strength", 1.0)
    obs.obs_data_set_default_double(settings, "boldness", 0.0)
    obs.obs_data_set_default_string(settings, "region", "all")


def _refresh_styles(props, prop) -> bool:
    styles = obs.obs_properties_get(props, "style")
    obs.obs_property_list_clear(styles)
    try:
        listing = api("styles")
    except RuntimeError as exc:
        _log(str(exc))
        return False
    for name in listing.get("builtin", []) + listing.get("custom", []):
        obs.obs_property_list_add_string(styles, name, name)
    return True  # redraw the panel


def _capture_clicked(props, prop) -> bool:
    send("capture")
    return False


def script_properties():
    props = obs.obs_properties_create()
    obs.obs_properties_add_text(props, "url", "StyleCast address", obs.OBS_TEXT_DEFAULT)
    obs.obs_properties_add_text(props, "token", "Token", obs.OBS_TEXT_PASSWORD)
    obs.obs_properties_add_list(props, "style", "Style", obs.OBS_COMBO_TYPE_LIST, obs.OBS_COMBO_FORMAT_STRING)
    obs.obs_properties_add_button(props, "refresh", "Load styles from StyleCast", _refresh_styles)
    obs.obs_properties_add_float_slider(props, "strength", "Strength", 0.0, 1.0, 0.05)
    obs.obs_properties_add_float_slider(props, "boldness", "Boldness (faithful .. bold strokes)", 0.0, 1.0, 0.05)
    region = obs.obs_properties_add_list(props, "region", "Region", obs.OBS_COMBO_TYPE_LIST, obs.OBS_COMBO_FORMAT_STRING)
    for label, value in REGIONS:
        obs.obs_property_list_add_string(region, label, value)
    obs.obs_properties_add_text(props, "scene_styles", "Per-scene styles (Scene=style, ...)", obs.OBS_TEXT_DEFAULT)
    obs.obs_properties_add_button(props, "capture", "Capture a style from the camera", _capture_clicked)
    return props


def script_update(settings) -> None:
    CFG.url = obs.obs_data_get_string(settings, "url") or DEFAULT_URL
    CFG.token = obs.obs_data_get_string(settings, "token").strip()
    CFG.scene_styles = parse_scene_styles(obs.obs_data_get_string(settings, "scene_styles"))
    if not CFG.token:
        return
    style = obs.obs_data_get_string(settings, "style")
    body = {"strength": obs.obs_data_get_double(settings, "strength"),
            "boldness": obs.obs_data_get_double(settings, "boldness")}
    if style:
        body["style"] = style
    send("settings", body)
    send("region", {"region": obs.obs_data_get_string(settings, "region") or "all"})


def _on_event(event) -> None:
    if event != obs.OBS_FRONTEND_EVENT_SCENE_CHANGED or not CFG.scene_styles:
        return
    scene = obs.obs_frontend_get_current_scene()
    name = obs.obs_source_get_name(scene)
    obs.obs_source_release(scene)
    if name in CFG.scene_styles:
        send("style", {"name": CFG.scene_styles[name]})


REGIONS = [("Whole frame", "all"), ("Background only (keep me)", "background"), ("Me only (keep the room)", "person")]
HOTKEYS = {  # key: (description, action, body)
    "stylecast_next": ("StyleCast: next style", "next", None),
    "stylecast_prev": ("StyleCast: previous style", "prev", None),
    "stylecast_toggle": ("StyleCast: start/stop", "toggle", None),
    "stylecast_capture": ("StyleCast: capture a style from the camera", "capture", None),
    "stylecast_colours_on": ("StyleCast: keep original colours", "preserve-colors", {"on": True}),
    "stylecast_colours_off": ("StyleCast: painting's colours", "preserve-colors", {"on": False}),
    "stylecast_region_all": ("StyleCast: style the whole frame", "region", {"region": "all"}),
    "stylecast_region_background": ("StyleCast: style the background only", "region", {"region": "background"}),
    "stylecast_region_person": ("StyleCast: style me only", "region", {"region": "person"}),
    "stylecast_bolder": ("StyleCast: bolder (the painting's strokes)", "boldness", {"step": BOLDNESS_STEP}),
    "stylecast_fainter": ("StyleCast: fainter (more of the photo)", "boldness", {"step": -BOLDNESS_STEP}),
}


def _hotkey_callback(action: str, body: dict | None):
    def pressed(is_pressed: bool) -> None:
        if is_pressed:
            send(action, body)
    return pressed


def script_load(settings) -> None:
    threading.Thread(target=_worker, name="stylecast-remote", daemon=True).start()
    obs.obs_frontend_add_event_callback(_on_event)
    for key, (description, action, body) in HOTKEYS.items():
        hotkey = obs.obs_hotkey_register_frontend(key, description, _hotkey_callback(action, body))
        saved = obs.obs_data_get_array(settings, key)
        obs.obs_hotkey_load(hotkey, saved)
        obs.obs_data_array_release(saved)
        CFG.hotkeys[key] = hotkey


def script_save(settings) -> None:
    for key, hotkey in CFG.hotkeys.items():
        saved = obs.obs_hotkey_save(hotkey)
        obs.obs_data_set_array(settings, key, saved)
        obs.obs_data_array_release(saved)
