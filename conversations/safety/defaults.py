"""Built-in screening rules, templates and resources.

These seed the database (migration ``0002``); from then on clinicians edit them in the
admin and the database is the source of truth. The screen falls back to these only when
the database has no active rules at all (a fresh, unmigrated process, the benchmark),
so a missing table never means "no screening".

Rule kinds: ``phrase`` (words matched on word boundaries, whitespace-flexible),
``pattern`` (a regular expression), ``exception`` (a regular expression whose matches are
blanked out before the risk rules and the classifier look at the text: idioms such as
"this exam is killing me" and negations such as "I would never hurt myself").
Text is lower-cased, curly quotes straightened and whitespace collapsed first.
"""

SUICIDE, SELF_HARM, HARM_TO_OTHERS, ABUSE, MEDICAL = (
    "suicide",
    "self_harm",
    "harm_to_others",
    "abuse_unsafe_home",
    "medical_emergency",
)
CATEGORIES = (SUICIDE, SELF_HARM, HARM_TO_OTHERS, ABUSE, MEDICAL)

_ME = r"(?:my\s*self|me)"
_PERSON = (
    r"(?:him|her|them|someone|somebody|sombody|anyone|everyone|people|my\s+\w+|the\s+\w+|his\s+\w+|"
    r"that\s+\w+|this\s+\w+)"
)
_NEG = (
    r"(?:never|not|no\s+longer|wouldn'?t|won'?t|don'?t|didn'?t|do\s+not|did\s+not|would\s+not|"
    r"will\s+not|could\s+not|couldn'?t|am\s+not|i'?m\s+not)"
)
_THING = (
    r"(?:exam|test|work|job|class|lecture|homework|essay|thesis|back|feet|foot|legs?|knees?|head|"
    r"neck|shoes?|heat|cold|weather|traffic|commute|suspense|wait|waiting|workout|gym|week|day|"
    r"this|that|it|boss|project|deadline|kids?|music|song|show|anticipation|curiosity)"
)

# (category or "", level, kind, text, note)
RULES: list[tuple[str, str, str, str, str]] = [
    # --- exceptions: idioms -----------------------------------------------------------
    ("", "none", "exception", rf"\b(?:my\s+|the\s+|this\s+|that\s+)?(?:\w+\s+)?{_THING}\s+(?:is|are|was|were|'s|'re)\s+(?:literally\s+|really\s+|so\s+)?(?:killing|murdering|destroying)\s+(?:me|my\s+\w+)\b", "X is killing me"),
    ("", "none", "exception", r"\b(?:would|'d|could|i)\s+(?:literally\s+)?(?:die|kill|murder)\s+(?:for|to\s+have)\b", "I'd die / kill for a ..."),
    ("", "none", "exception", r"\bto\s+die\s+for\b|\bdying\s+(?:to|of|for)\b|\bdie\s+of\s+(?:boredom|embarrassment|curiosity|laughter|shame|cuteness)\b", "dying to / to die for"),
    ("", "none", "exception", r"\b(?:died|dying|die|dead)\s+(?:of\s+|from\s+)?laugh\w*|\b(?:nearly|almost)\s+died\s+laughing\b", "died laughing"),
    ("", "none", "exception", r"\b(?:bored|scared|frightened|worried|tickled)\s+(?:me\s+)?to\s+death\b|\bthe\s+death\s+of\s+me\b", "bored to death"),
    ("", "none", "exception", r"\b(?:phone|battery|laptop|computer|car|plants?|flowers?|conversation|party|tv|internet|wifi)\s+(?:\w+\s+)?(?:died|dies|dying|is\s+dead|keep\s+dying|keeps\s+dying)\b", "my phone died"),
    ("", "none", "exception", r"\b(?:killed|killing|kill|slays?|slayed|nailed|crushed)\s+(?:it|this|that|the\s+\w+|my\s+(?:workout|presentation|interview|exam|set))\b(?!\s+(?:person|man|woman|guy|girl))", "killed it"),
    ("", "none", "exception", r"\bkill(?:ing)?\s+(?:some\s+)?time\b|\bkill\s+(?:the\s+)?(?:lights?|engine|mood|vibe)\b", "killing time"),
    ("", "none", "exception", r"\bdead\s+(?:tired|on\s+my\s+feet|beat|serious)\b|\bso\s+dead\s+if\b|\bi'?m\s+dead\s+if\b|\bdrop\s+dead\s+gorgeous\b", "dead tired"),
    ("", "none", "exception", r"\b(?:going\s+to|gonna|will|would|'ll|is\s+going\s+to)\s+(?:kill|murder)\s+me\s+(?:for\s+(?:borrowing|breaking|eating|losing|using|taking)|(?:if|when)\s+(?:i'?m\s+late|i\s+am\s+late|i\s+(?:forget|miss|break|lose|spill|fail|eat|don'?t\s+call)))\b", "my boss will kill me if I'm late"),
    ("", "none", "exception", r"\bsuicid\w*\s*\?\s*(?:no|nope|not\s+at\s+all)\b|\b(?:about|on|of)\s+suicide\s+(?:prevention|awareness|rates?|statistics)\b|\b(?:died|death)\s+by\s+suicide\b", "suicide prevention / died by suicide (about others)"),
    ("", "none", "exception", r"\b(?:friend|sister|brother|son|daughter|student|client|patient|cousin|colleague|coworker|partner)\b(?:\s+\w+){0,8}?\s+(?:who\s+)?(?:mentioned|is|was|has|says|said|told\s+me)?\s*(?:she|he|they)?\s*(?:is|'s)?\s*(?:self[\s-]?harm\w*|suicidal|cuts?\s+(?:himself|herself|themselves))\b", "a friend who self-harms (about someone else)"),
    ("", "none", "exception", r"\bused\s+to\s+(?:self[\s-]?harm|cut)\b(?=.{0,200}\b(?:years|proud|clean|healthy)\b)", "past self-harm, told as recovery"),
    ("", "none", "exception", r"\b(?:a|the)\s+patient\s+(?:came\s+in\s+)?with\s+an?\s+overdose\b|\bwe\s+had\s+an?\s+overdose\b", "overdose at work (nurse, paramedic)"),
    ("", "none", "exception", r"\b(?:i'?d|i\s+would)\s+rather\s+die\s+than\s+(?:sing|wear|eat|go|watch|listen|do\s+(?:karaoke|that))", "I'd rather die than sing"),
    ("", "none", "exception", r"\bkiller\s+(?:headache|workout|app|deal|view|outfit)\b|\bmurder(?:ing)?\s+(?:a|the)\s+(?:pizza|burger|beer|sandwich)\b", "killer headache"),
    ("", "none", "exception", r"\bcut(?:ting)?\s+(?:down|back)\s+on\b|\bcut\s+my\s+(?:hair|nails|finger\w*|hand)\b|\bcut\s+myself\s+shaving\b", "cut down on / cut my hair"),
    ("", "none", "exception", r"\b(?:burned|burnt|burn)\s+my\s+(?:hand|finger|tongue|arm)\s+on\s+(?:the|a)\s+(?:stove|oven|pan|tray|iron|kettle)\b", "burned my hand on the stove"),
    ("", "none", "exception", r"\b(?:by\s+accident|accidentally)\b", "accidents are not self-harm"),
    ("", "none", "exception", r"\bdone\s+with\s+(?:this|the|my)\s+(?:homework|week|assignment|essay|exam|project|job)\b|\bso\s+done\s+with\s+this\s+week\b", "done with this week"),
    ("", "none", "exception", r"\b(?:end|quit|cancel)\s+(?:my|this|the)\s+(?:subscription|relationship|friendship|contract|call|lease|day|story|chapter)\b", "end my subscription"),
    ("", "none", "exception", r"\b(?:pillow|snowball|water\s*balloon)\s+fight\b|\bwith\s+a\s+pillow\b", "pillow fight"),
    # --- exceptions: negations ----------------------------------------------------------
    ("", "none", "exception", rf"\b(?:i\s+)?(?:would|will|'d|'ll)?\s*{_NEG}\s+(?:ever\s+)?(?:want\s+to\s+|wanna\s+|going\s+to\s+|gonna\s+|plan\s+to\s+)?(?:hurt|harm|kill|cut)\s+(?:{_ME}|{_PERSON})\b(?!\s+but\b)", "I would never hurt myself"),
    ("", "none", "exception", r"\bi'?m\s+not\s+(?:suicidal|in\s+(?:any\s+)?danger|going\s+to\s+do\s+anything)\b|\bi\s+am\s+not\s+(?:suicidal|in\s+(?:any\s+)?danger)\b", "I'm not suicidal"),
    ("", "none", "exception", r"\bno\s+(?:thoughts?|plans?|intentions?|urges?)\s+(?:of|about|to)\s+(?:harming|hurting|killing|suicide|self[\s-]?harm)\w*(?:\s+myself|\s+anyone)?\b", "no thoughts of harming myself"),
    ("", "none", "exception", r"\b(?:i'?ve|i\s+have)\s+never\s+(?:been\s+)?(?:self[\s-]?harmed|cut\s+myself|abused|hurt\s+myself)\b|\bnever\s+been\s+abused\b", "I've never self harmed"),
    ("", "none", "exception", r"\b(?:i\s+)?(?:don'?t|do\s+not)\s+(?:feel\s+like|want\s+to\s+be)\s+(?:ending|end)\s+my\s+life\b", "I don't feel like ending my life"),
    ("", "none", "exception", r"\bi'?m\s+safe\b|\bi\s+feel\s+safe\b|\bnobody\s+hurts\s+me\b|\bno\s*one\s+hurts\s+me\b", "I'm safe"),
    ("", "none", "exception", r"\b(?:used\s+to|been\s+clean\s+for|clean\s+for)\s+(?:\w+\s+){0,3}(?:years?|months?)\b.*?\b(?:proud|healthy|better)\b", "recovery, told with pride"),
    # --- suicide ------------------------------------------------------------------------
    (SUICIDE, "crisis", "pattern", r"\bk[i1]+l+(?:l|ing)?\s*(?:my\s*self|myslef|myself|meself)\b|\bkms\b|\bkys\b", "kill myself (typos)"),
    (SUICIDE, "crisis", "pattern", r"\b(?:end|ending|take|taking|end\s+up\s+taking)\s+(?:my\s+(?:own\s+)?life|it\s+all)\b", "end my life / end it all"),
    (SUICIDE, "crisis", "pattern", r"\b(?:commit\w*|consider\w*|contemplat\w*|attempt\w*|thinking\s+(?:about|of)|thinkin\s+about|thoughts?\s+(?:about|of)|planning|plan\s+my|my)\s+(?:\w+\s+)?su[i1]?c[i1]?d[ea]?\b|\bsu[i1]?c[i1]?d[ea]?\s+(?:is|seems)\s+(?:like\s+)?(?:the|my)\s+(?:only|best)\b|\bsuicidal\b|\bsuicide\s+note\b", "suicidal / thinking about suicide (not: 'an essay about suicide')"),
    (SUICIDE, "crisis", "pattern", r"\b(?:want|wanna|wish|ready|going|decided|plan(?:ning)?)\s+(?:to\s+)?(?:\w+\s+){0,2}(?:die|dye|be\s+dead|dead)\b|\bwish\s+i\s+(?:was|were)\s+dead\b", "want to die"),
    (SUICIDE, "crisis", "pattern", r"\b(?:don'?t|do\s+not|dont)\s+(?:want|wanna)\s+to\s+(?:live|be\s+alive|exist|be\s+here)\b|\bdont\s+wanna\s+be\s+alive\b|\bwanna\s+be\s+alive\s+anymor", "don't want to live"),
    (SUICIDE, "crisis", "pattern", r"\b(?:better\s+off|happier|fine|better)\s+(?:\w+\s+){0,2}(?:without\s+me|if\s+i\s+(?:was|were|wasn'?t|weren'?t)\s+(?:dead|gone|here|around))\b|\bbetter\s+off\s+dead\b|\bwithout\s+me\s+in\s+it\b", "better off without me"),
    (SUICIDE, "crisis", "pattern", r"\bgiv(?:e|ing|en)\s+(?:away\s+)?(?:all\s+)?my\s+(?:things|stuff|belongings|possessions)\s*(?:away)?\b|\bgiving\s+(?:my\s+)?(?:\w+\s+)?(?:things|stuff|belongings)\s+away\b", "giving my things away"),
    (SUICIDE, "crisis", "pattern", r"\b(?:not|won'?t)\s+be\s+(?:here|around)\s+(?:much\s+longer|for\s+long|next\s+(?:week|month))\b|\bwon'?t\s+be\s+a\s+problem\s+for\s+anyone\b|\bdon'?t\s+plan\s+on\s+being\s+(?:here|around)\b", "won't be around much longer"),
    (SUICIDE, "crisis", "pattern", r"\b(?:never|not)\s+wake\s+up\b|\bsleep\s+forever\b|\bstop\s+existing\b|\bnot\s+exist\b|\bunalive\b|\bsewerslide\b|\bhang\s+myself\b", "never wake up / unalive"),
    (SUICIDE, "crisis", "pattern", r"\b(?:no|any)\s+(?:reason|point)\s+(?:for\s+me\s+)?(?:to|in)\s+(?:keep\s+)?(?:living|live|go(?:ing)?\s+on)\b|\bnot\s+worth\s+living\b|\bisn'?t\s+worth\s+living\b", "no reason to live"),
    (SUICIDE, "crisis", "pattern", r"\b(?:goodbye|suicide|farewell)\s+(?:note|letters?)\b|\bletters?\s+to\s+(?:everyone|my\s+\w+).{0,40}\b(?:gone|goodbye)\b|\bsaid\s+my\s+goodbyes\b|\blast\s+(?:message|conversation)\s+(?:to|with)\s+any", "goodbye letters"),
    (SUICIDE, "crisis", "pattern", r"\b(?:stockpil|sav|hoard)\w*\s+(?:up\s+)?(?:my\s+)?(?:pills|meds|medication)\b|\bways?\s+to\s+(?:die|go|kill)\b|\b(?:jump|jumping)\s+off\b|\bthinking\s+about\s+jumping\b", "saving pills / ways to die"),
    (SUICIDE, "crisis", "pattern", r"\bnobody\s+would\s+(?:miss|notice)\b|\bno\s*one\s+would\s+(?:miss|notice)\b", "nobody would miss me"),
    (SUICIDE, "crisis", "pattern", r"\b(?:tired|sick)\s+of\s+(?:being\s+alive|living|existing)\b(?!\s+in\s+th)", "tired of being alive"),
    (SUICIDE, "concern", "pattern", r"\bhopeless\b|\b(?:can'?t|cannot)\s+(?:keep\s+going|go\s+on)\b|\bdark\s+thoughts\b|\bburden\s+(?:on|to)\s+everyone\b|\bi\s+feel\s+like\s+a\s+burden\b|\bdon'?t\s+care\s+if\s+i\s+live\b", "hopeless / can't go on"),
    # --- self-harm ----------------------------------------------------------------------
    (SELF_HARM, "crisis", "pattern", r"\b(?:cut+|cutting|burn(?:ed|t|ing)?|hurt(?:ing|in)?|harm(?:ing)?|hit(?:ting)?|scratch(?:ed|ing)?|punch(?:ed|ing)?)\s+(?:my\s*self|myself)\b", "cut/hurt myself"),
    (SELF_HARM, "crisis", "pattern", r"\bself[\s-]?harm\w*\b|\bslef[\s-]?harm\w*\b|\bsh'?d\b|\bcutting\s+again\b|\bbeen\s+cutting\b|\burge\s+to\s+cut\b|\bcut\s+(?:my\s+)?(?:wrists?|arms?|thighs?)\b", "self-harm / cutting"),
    (SELF_HARM, "crisis", "pattern", r"\bon\s+purpose\b|\bto\s+feel\s+something\b|\bpunish\s+myself\b|\bmake\s+myself\s+bleed\b|\brazor\s+blade\b|\bwhat\s+i\s+do\s+to\s+my\s+(?:arms|legs|body)\b", "on purpose / make myself bleed"),
    # --- harm to others -----------------------------------------------------------------
    (HARM_TO_OTHERS, "crisis", "pattern", rf"\b(?:going\s+to|gonna|want\s+to|wanna|will|'ll|plan(?:ning)?\s+to|thought\s+about|thoughts\s+about|thinking\s+(?:\w+\s+){{0,2}}about|about\s+to)\s+(?:\w+\s+)?(?:kill|kil|murder|stab|shoot|hurt|beat|strangle|poison(?:ing)?|run\s+\w+\s+over)\s+{_PERSON}", "going to kill/hurt someone"),
    (HARM_TO_OTHERS, "crisis", "pattern", r"\bshoot\s+(?:up\s+)?(?:my\s+|the\s+)?(?:school|office|work|class|church|mall)\b|\bshoot\s+people\b|\bbring\s+a\s+(?:gun|weapon|knife)\b|\bmake\s+(?:them|him|her)\s+(?:pay|suffer)\b", "school shooting / make them pay"),
    (HARM_TO_OTHERS, "crisis", "pattern", r"\b(?:hurt|shake|shaking|harm)\w*\s+my\s+(?:baby|newborn|kids?|children|child|son|daughter)\b", "hurting my baby"),
    # --- abuse / unsafe at home ---------------------------------------------------------
    (ABUSE, "crisis", "pattern", r"\b(?:dad|father|mom|mother|mum|step\s*dad|step\s*mom|stepfather|stepmother|husband|wife|boyfriend|girlfriend|partner|brother|sister|uncle|aunt|parents?|coach|teacher)\s+(?:\w+\s+){0,2}(?:hits?|hitts|beats?|punch(?:es)?|kicks?|chok(?:es|ed)|strangl(?:es|ed)|abus(?:es|ed)|hurts?|touch(?:es|ed)|burns?|slaps?)\s+me\b", "family member hits me"),
    (ABUSE, "crisis", "pattern", r"\b(?:not|don'?t\s+feel)\s+safe\s+(?:at\s+)?home\b|\bscared\s+to\s+go\s+home\b|\bafraid\s+to\s+go\s+home\b|\b(?:being|been|was|were)\s+(?:sexually\s+)?(?:abused|assaulted|raped)\b|\bi\s+was\s+raped\b|\babusing\s+me\b", "unsafe at home / abused"),
    (ABUSE, "crisis", "pattern", r"\b(?:threatened|said|says)\s+(?:he|she|they)(?:'ll|\s+will|'d|\s+would)\s+(?:to\s+)?(?:kill|hurt)\s+me\b|\b(?:scared|afraid)\s+(?:my\s+\w+|he|she)\s+(?:is\s+going\s+to|will|'ll|might)\s+(?:kill|hurt)\s+me\b|\bhe'?ll\s+kill\s+me\b|\bkill\s+me\s+if\s+i\s+(?:leave|tell)", "threatened to kill me"),
    (ABUSE, "crisis", "pattern", r"\b(?:our|a)\s+secret\b.{0,40}|\bdoes\s+things\s+to\s+me\b|\bcomes?\s+into\s+my\s+room\s+at\s+night\b|\bforc(?:es|ing|ed)\s+me\s+to\b|\block(?:s|ed)?\s+me\s+(?:in|up)\b|\bwon'?t\s+let\s+me\s+(?:leave|see\s+anyone)\b|\bsend\s+(?:him\s+)?pictures\b", "secrets / forced / locked in"),
    (ABUSE, "crisis", "pattern", r"\bi'?m\s+(?:only\s+)?(?:[5-9]|1[0-7])\b.{0,80}\b(?:hurts?|hits?|touch\w*|beats?|alone\s+for\s+days|no\s+food|pictures|meet\s+up)\b|\bbruises?\s+from\b", "a minor describing harm"),
    (ABUSE, "concern", "pattern", r"\b(?:scared|afraid)\s+of\s+(?:my\s+)?(?:husband|wife|partner|boyfriend|girlfriend|dad|father|mom|step\s*dad|him)\b|\bcontrols?\s+(?:all\s+)?(?:my|the)\s+money\b|\bchecks\s+my\s+phone\b", "scared of my partner"),
    # --- medical emergency --------------------------------------------------------------
    (MEDICAL, "crisis", "pattern", r"\b(?:i|i'?ve|i\s+have|i\s+just|just|took\s+an?)\s+(?:\w+\s+)?(?:overdos\w*|od'?d)\b|\boverdosed\b|\b(?:took|swallowed|taken|tooke)\s+(?:a\s+)?(?:whole\s+bottle|bottle|all\s+(?:of\s+)?my|too\s+many|too\s+much|everything|(?:\d+|a\s+lot\s+of|all\s+the))\b", "took a whole bottle"),
    (MEDICAL, "crisis", "pattern", r"\b(?:can'?t|cannot|cnt|cant)\s+breathe?\b(?!\s+when\s+i\s+laugh)|\bnot\s+breathing\b|\bbarely\s+breathing\b|\bthroat\s+is\s+(?:closing|swelling)\b|\blips\s+are\s+(?:turning\s+)?blue\b", "can't breathe"),
    (MEDICAL, "crisis", "pattern", r"\bheart\s+attack\b|\bstroke\b|\bseizure\b|\bchest\s+(?:pain|is\s+crushing|is\s+in\s+(?:terrible\s+)?pain)\b|\barm\s+is\s+numb\b|\bspeech\s+is\s+slurred\b|\bface\s+is\s+drooping\b", "heart attack / stroke signs"),
    (MEDICAL, "crisis", "pattern", r"\bbleeding\s+(?:a\s+lot|heavily|really\s+bad|badly)\b|\bwon'?t\s+stop\s+bleeding\b|\bblood\s+everywhere\b|\bcut\s+too\s+deep\b|\bcut\s+deeper\b|\bdrank\s+(?:bleach|poison)\b|\b(?:unconscious|passed\s+out|collapsed)\b|\bwon'?t\s+wake\s+up\b", "bleeding / unconscious"),
]

TEMPLATES: dict[str, str] = {
    "crisis_reply": (
        "I'm really glad you told me. What you're describing sounds serious, and you deserve "
        "support from a person right now. I'm an AI, not a human or a therapist, and I can't "
        "help in an emergency. Please reach out now:\n\n{resources}\n\n"
        "If you can, stay with someone you trust while you reach out. A clinician on our team "
        "will also review this conversation."
    ),
    "concern_addendum": (
        "SAFETY NOTE: the person's last message may signal risk ({categories}). Respond with "
        "warmth and without judgement, gently ask whether they are safe right now, encourage "
        "them to contact a crisis line or someone they trust, never describe methods of "
        "self-harm or violence, and remind them you are an AI and not a therapist."
    ),
    "concern_resources": "If things feel overwhelming or you might not be safe, help is available now:\n{resources}",
    "output_replacement": (
        "I'm sorry, I can't help with that. I'm an AI, not a human or a licensed therapist. "
        "If you are struggling or might not be safe, please reach out now:\n\n{resources}"
    ),
}

# (locale, name, contact, url)
RESOURCES: list[tuple[str, str, str, str]] = [
    ("en-US", "988 Suicide & Crisis Lifeline", "Call or text 988", "https://988lifeline.org"),
    ("en-US", "988 Lifeline chat", "Chat at 988lifeline.org", "https://988lifeline.org/chat/"),
    ("en-US", "Emergency services", "Call 911 if you are in immediate danger", ""),
    ("en-GB", "Samaritans", "Call 116 123 (free, 24/7)", "https://www.samaritans.org"),
    ("en-GB", "Emergency services", "Call 999 if you are in immediate danger", ""),
]
