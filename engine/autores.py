"""Auto resolution: the processing height that keeps live preview at the camera's frame rate.

A viewer forgives a slightly softer picture long before a stutter: a streamed webcam that stylizes at
12 fps when the camera gives 30 looks broken, while the same styles at 288 lines instead of 400 just look a
little less detailed. Which height a machine holds depends on the CPU or GPU, on the style model (AdaIN
costs several times a fast net) and on what else runs (a game or an encoder starting up takes cores away),
so no fixed setting is right for everyone. The live pipeline asks this governor which height to stylize
the next frame at, and tells it afterwards how long the work that limits the frame rate took (its slowest
stage for that frame). The governor:

* works on a ladder of heights (``LADDER``), each rung 1.11-1.14x the one below (1.23-1.31x the pixels;
  1.19x for the last step, to 1080), so a step is a gentle change in detail, the pick can land close to the
  best size, and the cost of the next rung can be predicted from this one's;
* never processes above the source's own height: a rung within 5 % of the source's height gives way to
  the source height itself (no resize at all), and a source smaller than every rung is processed as it is;
* aims at the frame budget ``1000 / target_fps`` ms, the target being the source's frame rate capped at
  ``MAX_TARGET_FPS`` (30): a streamer needs the camera's rate, not more;
* steps down promptly when the measured cost stays over 95 % of the budget (load arrived, a heavier model
  was picked), straight to the largest rung whose predicted cost fits 80 % of it, possibly several rungs;
* steps up one rung only when the next rung's predicted cost has stayed under 75 % of the budget for
  1.5 seconds' worth of frames, so a rung held after a climb keeps headroom for jitter;
* remembers failed climbs: when a rung it climbed to has to be left downwards within a minute, that rung is
  not tried again for 30 s, then 60 s, 120 s ... up to 5 minutes, so a machine right at a boundary settles on
  the lower rung (with a rare, brief try of the upper one) instead of alternating between the two.

Rules, in detail. Durations are fed in, never measured here, and all waiting is counted in frames (seconds
times the target frame rate), so the behaviour is deterministic and testable without a clock.

Estimate. The first ``WARMUP_FRAMES`` frames after every change of height are ignored: ONNX Runtime's
first runs at a new input size are slow (allocation, kernel choice). The cost estimate at the current rung
is the trimmed mean of the last ``WINDOW`` durations (the highest and lowest fifth dropped): robust to a
single hiccup (a page fault, a garbage collection) like a median, steadier than a median under ordinary
jitter. Frames recorded at another height than the current pick (frames already in flight when the pick
changed) are ignored.

Down. When the estimate (from at least ``MIN_SAMPLES`` durations) is above ``DOWN_ABOVE`` of the budget for
``DOWN_FRAMES`` frames in a row, the pick moves to the largest lower rung whose predicted cost (the
current cost times the pixel ratio, (h_new / h_cur) ** 2) is at most ``DOWN_TO`` of the budget, or to the
lowest rung. The current cost there is the larger of the estimate and the median of the latest
``MIN_SAMPLES`` durations, so a sudden load is sized on the frames that show it, not on a window that
still holds frames from before. Exception: a climb that fails within ``PROBE_S`` goes back to the rung it
came from, which was measured just before and known to fit (a prediction from the failed rung would
overshoot when the cost grew faster than the pixels). At the lowest rung there is nowhere to go: the pick
stays.

Up. With a full window, when the next rung up is allowed (in the source's ladder, not backed off) and its
predicted cost is under ``UP_BELOW`` of the budget on every frame for ``UP_HOLD_S`` seconds' worth of
frames, the pick moves up one rung. Why the pick then stays still under a steady load: a climb lands on a
rung predicted under 75 % of the budget, below the 95 % that moves it down; a step down lands on the largest
rung predicted at most 80 %, so the rung above it is predicted over 80 %, above the 75 % a climb needs. Which
rung it rests on depends on where it came from (a climb stops at the largest rung under 75 %, a step down at
the largest at most 80 %); either holds the frame rate. When the prediction is wrong (the cost grew faster
than the pixels), the back-off below keeps the pick from trying the same rung again soon.

Back-off. A rung left downwards within ``PROBATION_S`` of being climbed to counts as a failed climb of that
rung: it is barred for ``BACKOFF_START_S`` seconds' worth of frames, doubled with every further failure, at
most ``BACKOFF_MAX_S``. A rung held for the whole probation has proved itself and its failures are
forgotten; all failures are also forgotten after ``STABLE_RESET_S`` without any change of height (the
machine's situation has changed since), on a new target frame rate (more than ``RETARGET`` away: a measured
rate's jitter does not count) and on ``reset()``.

Prediction by pixel count is conservative upwards when part of the cost does not scale with the picture
(a fixed overhead per frame): the governor may then keep a rung below the best one, never one above it.
"""
from __future__ import annotations

import math
from collections import deque

# Processing heights, each a multiple of 4 (the fast nets' cell; AdaIN pads to its 8 px cells), 1.11-1.14x
# apart in height (1.23-1.31x in pixels; 904 -> 1080 is 1.19x): fine enough that the pick lands near the best
# size (a 1.2x ladder left mid8.int8 at 168p on a 2-core CPU where 180p holds 30 fps); 288 (the default
# start), 360, 720 and 1080 (common camera heights) are rungs.
LADDER: tuple[int, ...] = (144, 160, 180, 200, 224, 252, 288, 320, 360, 400, 448, 504, 568, 640, 720, 808, 904, 1080)
DEFAULT_START_HEIGHT = 288
MAX_TARGET_FPS = 30.0  # a streamer needs the camera's rate, not more
MIN_TARGET_FPS = 1.0  # keeps the frame counts below meaningful for a very slow or unknown source
# A rung within 5 % of the source height gives way to the source height itself, so the last step, into the
# source, is 1.05-1.2x. A margin of 1.1 (right for the old 1.2x ladder) would make it 1.1-1.26x, coarser than
# the ladder: a 480-line source would lose 448 and step 400 -> 480 (1.2x).
SOURCE_MARGIN = 1.05

WARMUP_FRAMES = 2  # durations ignored after every change of height (first runs at a new size are slow)
WINDOW = 10  # durations the estimate is taken over
MIN_SAMPLES = 5  # durations needed before the governor steps down
DOWN_ABOVE = 0.95  # of the budget: over this for DOWN_FRAMES frames in a row -> step down (the stages overlap:
DOWN_FRAMES = 6  # a model stage at 95 % still delivers every frame; 0.90 and 3 frames let jitter on 2 cores
# knock mid8.int8 off 180p, where it holds 30 fps with no frame dropped; bench/live.py)
DOWN_TO = 0.80  # of the budget: a step down goes to the largest rung predicted to fit this
UP_BELOW = 0.75  # of the budget: the next rung's predicted cost must stay under this (0.70 left mid8.int8 at
# 160p on 2 cores, where 180p measures 66 %: the resize and margin make the pixel ratio overestimate) ...
UP_HOLD_S = 1.5  # ... for this long (in frames at the target rate) before a step up
PROBE_S = 3.0  # a climb failing this soon goes back to the rung it came from
PROBATION_S = 60.0  # a climbed-to rung left downwards within this counts as a failed climb
BACKOFF_START_S = 30.0  # a failed rung is barred this long, doubled per further failure ...
BACKOFF_MAX_S = 300.0  # ... up to this
STABLE_RESET_S = 900.0  # without any change of height for this long, past failures are forgotten
RETARGET = 0.05  # a new target frame rate this much different also forgets them


def ladder_for(source_height: int | None) -> tuple[int, ...]:
    """The heights available for a source of ``source_height`` lines (None: unknown, the whole ladder).

    Rungs at most the source height / ``SOURCE_MARGIN``, then the source's own height (capped at the top
    rung): a 480-line source gets (144, ..., 400, 448, 480), a 232-line one (144, 160, 180, 200, 232), a
    100-line one (100,)."""
    if source_height is None:
        return LADDER
    if source_height < 1:
        raise ValueError(f"source height must be positive, got {source_height}")
    top = min(int(source_height), LADDER[-1])
    return tuple(r for r in LADDER if r * SOURCE_MARGIN <= top) + (top,)


def clamp_target_fps(fps: float | None) -> float:
    """The target frame rate for a source of ``fps``: capped at ``MAX_TARGET_FPS``; unknown (None, 0, NaN)
    means ``MAX_TARGET_FPS``."""
    if fps is None or not math.isfinite(fps) or fps <= 0:
        return MAX_TARGET_FPS
    return max(MIN_TARGET_FPS, min(MAX_TARGET_FPS, float(fps)))


def _snap(height: int, ladder: tuple[int, ...]) -> int:
    """The largest rung of ``ladder`` at most ``height``; the lowest rung when none is."""
    below = [r for r in ladder if r <= height]
    return below[-1] if below else ladder[0]


class AutoResolution:
    """Picks the processing height for live preview from measured per-frame durations (see the module
    docstring for the rules). Not thread-safe: call it from the thread that processes the frames."""

    def __init__(self, target_fps: float = MAX_TARGET_FPS, start_height: int = DEFAULT_START_HEIGHT) -> None:
        if start_height < 1:
            raise ValueError(f"start height must be positive, got {start_height}")
        self._start = int(start_height)
        self._target = clamp_target_fps(target_fps)
        self.reset()

    # --- what the pipeline and the display read ---------------------------------------------------------

    @property
    def height(self) -> int:
        """The current pick (before the cap of the next ``height_for``)."""
        return self._height

    @property
    def changes(self) -> int:
        """How many times the pick has changed since the start or the last ``reset()``."""
        return self._changes

    @property
    def target_fps(self) -> float:
        return self._target

    @target_fps.setter
    def target_fps(self, fps: float | None) -> None:
        """Set from the source's frame rate; capped at ``MAX_TARGET_FPS`` (unknown -> the cap). Setting it on
        every frame is fine: a change of more than ``RETARGET`` (not the jitter of a measured rate) forgets
        the failed climbs, which were judged against another budget."""
        fps = clamp_target_fps(fps)
        if abs(fps - self._target) > RETARGET * self._target:
            self._forget_failures()
            self._over = self._under = 0
        self._target = fps

    @property
    def budget_ms(self) -> float:
        """Time per frame at the target frame rate."""
        return 1000.0 / self._target

    @property
    def estimate_ms(self) -> float | None:
        """Estimated cost per frame at the current pick; None until enough frames were measured there."""
        n = len(self._samples)
        if n < MIN_SAMPLES:
            return None
        values = sorted(self._samples)
        trim = n // 5
        kept = values[trim:n - trim]
        return sum(kept) / len(kept)

    # --- what the pipeline calls ------------------------------------------------------------------------

    def reset(self) -> None:
        """Start over (live preview starts again): back to the start height, measurements and failures forgotten."""
        self._source: int | None = None
        self._ladder = LADDER
        self._height = _snap(self._start, LADDER)
        self._samples: deque[float] = deque(maxlen=WINDOW)
        self._warmup = WARMUP_FRAMES
        self._over = self._under = 0
        self._frame = 0  # frames recorded: the governor's only clock
        self._changed_at = 0
        self._changes = 0
        self._climbed_from: int | None = None  # set while a climbed-to rung is on probation
        self._failures: dict[int, int] = {}
        self._barred_until: dict[int, int] = {}

    def height_for(self, source_height: int) -> int:
        """The height to process the next frame of a ``source_height``-line source at (never above it)."""
        if source_height != self._source:
            self._ladder = ladder_for(source_height)
            self._source = source_height
        if self._height not in self._ladder:
            self._set(_snap(self._height, self._ladder))
        return self._height

    def record(self, height: int, busy_ms: float) -> None:
        """After a frame processed at ``height``: the duration, in ms, of the work that limits the frame rate
        (the pipeline's slowest stage for that frame). Frames at another height than the pick, and invalid
        durations, are ignored."""
        if not math.isfinite(busy_ms) or busy_ms < 0:
            return
        self._frame += 1
        if height != self._height:
            return  # in flight when the pick changed
        if self._warmup > 0:
            self._warmup -= 1
            return
        self._samples.append(float(busy_ms))
        self._age()
        estimate = self.estimate_ms
        if estimate is not None:
            self._move(self._decide(estimate))

    # --- the rules --------------------------------------------------------------------------------------

    def _frames(self, seconds: float) -> int:
        """``seconds`` in frames at the target frame rate."""
        return max(1, round(seconds * self._target))

    def _decide(self, estimate: float) -> int:
        """The pick for the next frame, from the estimate at the current rung."""
        budget = self.budget_ms
        self._over = self._over + 1 if estimate > DOWN_ABOVE * budget else 0
        if self._over >= DOWN_FRAMES:
            # the window may still mix frames from before the load arrived: size the step on the latest too
            latest = sorted(list(self._samples)[-MIN_SAMPLES:])
            return self._down_target(max(estimate, latest[len(latest) // 2]))
        up = self._next_up()
        if up is not None and len(self._samples) >= WINDOW \
                and estimate * (up / self._height) ** 2 < UP_BELOW * budget:
            self._under += 1
        else:
            self._under = 0
        return up if up is not None and self._under >= self._frames(UP_HOLD_S) else self._height

    def _down_target(self, estimate: float) -> int:
        """Where a step down goes: back where a fresh climb came from, or the largest rung predicted to fit."""
        lower = [r for r in self._ladder if r < self._height]
        if not lower:
            return self._height
        if self._climbed_from in lower and self._frame - self._changed_at <= self._frames(PROBE_S):
            return self._climbed_from
        fits = [r for r in lower if estimate * (r / self._height) ** 2 <= DOWN_TO * self.budget_ms]
        return fits[-1] if fits else lower[0]

    def _next_up(self) -> int | None:
        """The rung above the pick, if it exists for this source and is not barred."""
        i = self._ladder.index(self._height)
        if i + 1 >= len(self._ladder):
            return None
        up = self._ladder[i + 1]
        return None if self._barred_until.get(up, 0) > self._frame else up

    def _move(self, height: int) -> None:
        """Change the pick to ``height`` (nothing when it is the pick), booking a failed climb."""
        if height == self._height:
            return
        if height < self._height and self._climbed_from is not None:
            failures = self._failures.get(self._height, 0) + 1
            self._failures[self._height] = failures
            backoff = min(BACKOFF_START_S * 2 ** (failures - 1), BACKOFF_MAX_S)
            self._barred_until[self._height] = self._frame + self._frames(backoff)
        from_height = self._height
        self._set(height)
        self._climbed_from = from_height if height > from_height else None

    def _set(self, height: int) -> None:
        self._height = height
        self._samples.clear()
        self._warmup = WARMUP_FRAMES
        self._over = self._under = 0
        self._changed_at = self._frame
        self._changes += 1
        self._climbed_from = None

    def _age(self) -> None:
        """Probation passed -> the rung's failures are forgotten; long without change -> all are."""
        held = self._frame - self._changed_at
        if self._climbed_from is not None and held >= self._frames(PROBATION_S):
            self._failures.pop(self._height, None)
            self._climbed_from = None
        if held >= self._frames(STABLE_RESET_S) and self._failures:
            self._forget_failures()

    def _forget_failures(self) -> None:
        self._failures.clear()
        self._barred_until.clear()
