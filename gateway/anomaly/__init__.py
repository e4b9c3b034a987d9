"""Per-camera scene-anomaly models: learned from the camera's own normal frames (numpy), exported as
ONNX graphs (onnx.helper) that the model repository serves like any other model.

- ``features.py``: cell statistics (colour, texture, grain) per window, at three scales;
- ``model.py``: the method's constants and the fitted model (the method is described there);
- ``lighting.py``, ``scoring.py``, ``fitting.py``: the numpy reference: lighting, scoring, fitting;
- ``clipping.py``: which cells the lighting gains leave out (a channel at 255 does not follow the light);
- ``export.py``: the same computation as an ONNX graph, with the enrollment's thresholds inside;
- ``model_file.py``: an enrolled model file read back (its metadata), once it is known to be one.

How the method was chosen
-------------------------

On the **tuning** clip set only (``bench/clip_sets.py``: 16 two-minute scenes, a 5-minute parking
clip, 10-minute drift-only clips; 101 events), offline, with ``bench/anomaly_tuning.py method``.
The hold-out set (other scene families and seeds) was kept for the report. The table below was
measured when the tuning set had one, gentle, drift-only clip (6210 normal frames); the second, hard
one and the saturation test it led to came later (next section). Columns: event precision
and recall through the gateway's rules, alerts on the drift-only clip, flagged normal frames (more
than 1 s from any object), and the separation of events from normal footage: events' p5 is the 5th
percentile over events of each event's 3rd-highest raw score (1.0 = threshold; the rule needs 3
frames), normal max the worst clip's 3rd-highest raw score on normal frames; separation is their
ratio, the room left for footage nobody tuned on. Each row changes one thing of the final method:

| variant | precision | recall | drift alerts | flagged normal | events' p5 | normal max | separation |
|---|---|---|---|---|---|---|---|
| **final** (``Settings()``) | 1.000 | 1.000 | 0 | 0/6210 | 3.51 | 0.79 | **4.43** |
| previous model (one grid, global gain, 6%/12% floors) | 1.000 | 0.990 | 0 | 0/6210 | 1.49 | 0.85 | 1.76 |
| no light field (gains only: ``basis_terms=1``) | 1.000 | 1.000 | 6 | 788/6210 | 3.25 | 2.28 | 1.42 |
| plane light field (``basis_terms=3``) | 1.000 | 1.000 | 1 | 72/6210 | 3.38 | 1.20 | 2.82 |
| fine scale only (10 px cells) | 1.000 | 1.000 | 0 | 0/6210 | 2.71 | 0.68 | 3.99 |
| fine and medium scales | 1.000 | 1.000 | 0 | 0/6210 | 3.17 | 0.72 | 4.38 |
| no heavy-tail widening of the spread | 1.000 | 1.000 | 0 | 0/6210 | 1.85 | 0.79 | 2.34 |
| no texture channel | 1.000 | 1.000 | 0 | 0/6210 | 2.77 | 0.76 | 3.63 |
| texture kept where colour saturates | 1.000 | 1.000 | 0 | 0/6210 | 3.51 | 0.89 | 3.94 |
| all texture scales with light (no noise part) | 1.000 | 1.000 | 0 | 0/6210 | 3.43 | 0.85 | 4.03 |
| texture noise fixed at enrollment's (no grain) | 1.000 | 1.000 | 0 | 0/6210 | 3.29 | 0.87 | 3.76 |
| no widening outside the enrolled light range | 0.990 | 1.000 | 7 | 235/6210 | 3.70 | 2.05 | 1.80 |
| threshold margin 1.5 | 1.000 | 1.000 | 0 | 8/6210 | 4.43 | 1.01 | 4.38 |
| threshold margin 3.0 | 1.000 | 1.000 | 0 | 0/6210 | 2.45 | 0.59 | 4.14 |

(The previous model's row is its code at this branch's parent commit, through the same replay and
judging.)

What the tuning set taught, in order of effect: a smooth light field fitted without the anomalous
cells is what lets the spread floors drop from 6% to 1.5% of brightness (without it, a tilt or a
vignette is a large, faint "object"); where a cell's own residuals have a heavy tail (sparkles,
flicker) its spread must widen, or that one cell sets the whole frame's threshold; lighting outside
what enrollment saw must widen every spread, or drift alone alerts. Texture shows faint flat objects
on textured ground, but only once its noise part is modelled apart (noise does not brighten with the
light, and grows when the camera raises its gain) and it is ignored where colour saturates. The
coarser scales raise the weakest events (3rd-highest raw of the weakest event: 1.13 fine only, 1.46
with the medium scale, 1.76 with all three) more than the normal maximum. The margin was set last,
by rule: the smallest that keeps the worst tuning clip's normal frames at or below 0.8 of the
threshold (2.25 before the grain term, 2.1 after). The one hold-out look during development (the
quick hold-out set at margin 2.25: recall 0.941) came before that last step; the rule, not that
figure, set the margin.

Lighting the tuning set did not push: the saturation test
---------------------------------------------------------

The first hold-out report had 3 alerts on one of its two drift-only clips (random exposure steps
under cloud light) while the tuning set's one drift clip had none: that clip never pushed the method
on lighting. So the tuning set got a second drift-only clip in its own families, pushed harder
(``clip_sets.py``: +-20 % exposure steps every 7.5 s, light 2.5 times faster, foliage and a lamp 1.7
times stronger); the hold-out clips were not looked at for this. On it the method flagged 11 normal
frames; the cause (``model.py``, "Saturation") was the saturation test on a window's median colour,
and the fix takes the brightest the window normally gets: its bright pixels and its upward flicker.
Measured like the table above, on the tuning set with both drift clips (7350 normal frames; load
2.8-4.8 on 2 cores), and the hard clip's own peak raw score, over all its frames and over the 388
frames lit beyond the enrolled range:

| variant | flagged normal | normal max | separation | hard clip: peak | beyond range |
|---|---|---|---|---|---|
| **final** (``Settings()``) | 0/7350 | 0.79 | **4.43** | 0.66 | 0.58 |
| saturation test on the median colour (before) | 11/7350 | 1.51 | 2.32 | 1.60 | 1.60 |
| bright pixels only (``--set headroom=false``) | 0/7350 | 0.86 | 4.06 | 0.92 | 0.92 |
| upward flicker only (``--set pixel_peaks=false``) | 0/7350 | 0.79 | 4.43 | 0.67 | 0.67 |

Every row: precision 1.000, recall 1.000, median delay 0.10 s, no drift alert, events' p5 3.51.

The upward flicker does most of it; the bright pixels take the last of the lamp's clipping off the
frames lit beyond enrollment (their worst moves to foliage at ordinary light) and cost the graph
nothing (one constant per window). A first version of the fix flagged 14 normal frames on the quick
tuning set (a surface clipped through its whole enrollment, then lit less): texture is now learned
only from unclipped frames and never compared where it was clipped in most of them (``model.py``);
the quick tuning set then has none (35/35 events, 0/1788 flagged normal frames, offline through the
graph). The events are untouched (weakest 1.89 in every row), and the margin rule still holds
(normal max 0.79 <= 0.8), so no other constant moved. Per-frame CPU of the enrolled graph, one
thread, 320 x 180, median over 300 frames: 1.24 and 1.47 ms in two runs, against 1.27 and 1.49 ms
for the previous graph on the same frames, the two run frame by frame in one process (load 3.3 on 2
cores).

Clipped cells and the light: the third drift clip
-------------------------------------------------

The saturation fix held the tuning set, but the second hold-out draw (seeds 9000.., looked at once
after it was frozen) still had one alert and 28 flagged normal frames on a drift-only clip. Without
looking at that clip again, the tuning set got a third drift-only clip in its own families that
combines what the second did not (``bench/clip_sets.py``: light leaving the enrolled range while
exposure steps of both signs land every 2.5 s, a colour-temperature shift, more noise in low light,
foliage on flat and textured cells). Its normal frames nearest the threshold, attributed to window,
scale and channel, were colour residuals of cells white in one channel, and the cause was upstream:
the light's gains were medians over cells that included clipped ones, which do not follow the
light (``clipping.py`` has the figures). Measured like the tables above, on the tuning set with its
three drift clips (8490 normal frames; load 2.5-6.6 on 2 cores, other runs sharing them):

| variant | drift alerts | flagged normal | normal max | separation |
|---|---|---|---|---|
| **final** (``Settings()``) | 0 | 0/8490 | 0.81 | **4.31** |
| before (``--set unclipped_gain=false``) | 0 | 5/8490 | 1.05 | 3.32 |
| before, plus clipped colours as lower bounds (tried, left out) | 2 | 13/8490 | 1.22 | 2.88 |

Every row: precision 1.000, recall 1.000, median delay 0.10 s, weakest event 1.89, events' p5 3.51.
The normal maximum, 0.81 (on the new clip), is a hair over the 0.8 the margin rule asks for; the
margin (2.1) was left alone, so that the rule is judged by itself. CPU per frame of the enrolled
graph (one thread, 320 x 180, median over 300 frames, both graphs run frame by frame in one process;
load 2.5-3.0): 1.47 ms on an event clip and on the new drift clip, against 1.44 and 1.43 ms for the
previous graph (one full sort of each channel's 576 cells instead of a half one).

Ours against OpenCV's background subtractors
--------------------------------------------

Measured on the first hold-out set (seeds 5000.., since retired; before the saturation fix) by
``bench/accuracy.py`` (``bench/results/accuracy.md``; 2 cores, load 0.3-4.1), every method offline
through the gateway's rules on the same frames, ours also through the real pipeline. MOG2 and KNN
were kept well: their history, threshold, shadow handling and blob size were searched on the tuning
set like ours (``bench/baselines.py``).

| hold-out: 86 events, 2 drift-only clips | precision | recall | median delay | drift alerts | ms/frame |
|---|---|---|---|---|---|
| ours, pipeline | 0.990 | 0.965 | 0.20 s | 3 | 1.12 |
| ours, offline | 0.988 | 0.977 | 0.20 s | 3 | 1.12 |
| MOG2 (history 100, varThreshold 121) | 1.000 | 0.860 | 0.30 s | 2 | 1.63 |
| KNN (history 50, dist2Threshold 1600) | 1.000 | 0.872 | 0.30 s | 1 | 1.98 |

Ours finds 10 more of the 86 events than the better subtractor, at a lower CPU cost; all three alert
on the same drift-only clip (random exposure steps under moving cloud light), where none meets the
target of no alert. Why ours is the gateway's method rather than a subtractor, or a mix of the two:

- a subtractor learns every frame, so whatever stops becomes background after its history (a person
  waiting at a gate disappears in a minute) and nothing says so; ours compares with what was enrolled
  until a change has lasted ``new_normal_after_s``, then says so once (a ``scene_change`` alert and a
  re-enroll hint);
- a subtractor follows light by re-learning pixels, so a fast change (an exposure step, a cloud)
  is foreground everywhere until it catches up; ours removes the frame's light before comparing;
- ours is stateless per frame: a graph that the inference pool batches across cameras and that runs
  on any ONNX Runtime provider or TensorRT, dropping a frame under load costs nothing; a subtractor
  holds per-camera state that must see every frame in order, on the CPU.

Combining them (an alert when either fires) would bring back the first two weaknesses; whether it
would find the events ours misses was not measured, and on the drift clip it could only add alerts.
"""
