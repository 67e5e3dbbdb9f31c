"""The markers the pipeline's prompts carry and the offline provider reads, defined once for both
(prompts.py writes them, providers/offline.py looks for them)."""

REQUEST_OPEN = "<request>"  # the user's request sits between these two lines
REQUEST_CLOSE = "</request>"
REPAIR_MARK = "<repair>"  # on a line of its own in a repair
LATEX_LINE = "LATEX_AVAILABLE: {}"  # in the system message: yes | no
NARRATION_LINE = "NARRATION: yes"  # in the system message of a --voiceover request
