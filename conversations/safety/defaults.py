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
    # --- added 2026-11-30: methods, preparation, concealment, and more idioms/negations -----
    # (written against phrasings outside the evaluation set; see data/probe.jsonl and README)
    ("", "none", "exception", r"\b(?:i'?m\s+not|i\s+am\s+not|not)\s+(?:thinking\s+(?:of|about)|planning\s+(?:on|to))\s+(?:hurting|harming|killing|ending|hurt|harm|kill|end)\s+(?:myself|my\s+(?:own\s+)?life|anyone|someone|others)\b", "I'm not thinking of hurting myself"),
    ("", "none", "exception", r"\b(?:no|not\s+any|(?:don'?t|do\s+not)\s+have\s+any)\s+(?:thoughts?|plans?|intentions?|urges?)\s+(?:of|about|to)\s+(?:ending|end|harming|harm|hurting|hurt|killing|kill|taking)\s+(?:my\s+(?:own\s+)?life|myself|anyone|someone)\b", "no plans to end my life"),
    ("", "none", "exception", r"\bask(?:ed|s|ing)?\s+(?:me\s+)?(?:if|whether)\s+i\s+(?:was|am|were|felt|feel)\s+suicidal\b(?=[^.!?]{0,40}\b(?:i'?m\s+not|i\s+am\s+not|i\s+wasn'?t|i\s+said\s+no|not\s+at\s+all)\b)", "asked if I was suicidal, and I'm not"),
    # --- added 2026-12-01: a negation followed by what the person does want (issue 11) --------
    ("", "none", "exception", r"\b(?:i\s+)?(?:do\s+not|don'?t|never)\s+(?:really\s+|actually\s+)?want\s+to\s+(?:die|be\s+dead|kill\s+(?:myself|me)|end\s+(?:it|my\s+life))\b(?=\s*[,;:.-]*\s*(?:i\s+)?(?:just|only|simply|really)\s+(?:want|need|wish)\b)", "I don't want to die, I just want ..."),
    ("", "none", "exception", r"\b(?:i'?m\s+|i\s+am\s+)?(?:sad|low|down|exhausted|tired|stressed),?\s+(?:but|though)\s+(?:i'?m\s+|i\s+am\s+)?not\s+suicidal\b|\bnot\s+suicidal,?\s+(?:i'?m\s+|i\s+am\s+)?(?:just|only)\b", "sad, but not suicidal"),
    ("", "none", "exception", r"\b(?:the\s+)?(?:main\s+)?(?:character|protagonist|hero|heroine|villain|narrator)\b(?:\s+[\w']+){0,8}?\s+(?:attempts|commits|dies\s+by|considers)\s+suicide\b", "a character in a book attempts suicide"),
    ("", "none", "exception", r"\b(?:warning\s+)?signs\s+of\s+(?:self[\s-]?harm|suicid\w*)\b|\b(?:course|training|module|lecture|class|degree|essay|research|report|article|leaflet|documentary|podcast)\s+(?:on|about)\s+(?:self[\s-]?harm|suicid\w*|overdoses?|domestic\s+(?:violence|abuse)|knife\s+crime)\b", "studying the signs of self-harm"),
    ("", "none", "exception", r"\b(?:had|survived|recovered\s+from)\s+a\s+(?:stroke|heart\s+attack|seizure)\s+(?:once\s+)?(?:last\s+year|(?:a\s+few|some|two|three|\d+)\s+years?\s+(?:ago|back)|years\s+ago|in\s+(?:the\s+)?(?:\d{4}|nineties|eighties|seventies))\b", "had a stroke years ago"),
    ("", "none", "exception", r"\b(?:overdosed|attempted|tried\s+to\s+(?:kill|end)\s+(?:myself|my\s+life))\s+(?:once\s+)?(?:at|when\s+i\s+was|aged?|in\s+my)\s+(?:\d+|\w+teen|teens|twenties|thirties)\b(?=.{0,80}\b(?:grateful|glad|better|recovered|doing\s+well|proud|alive\s+now|survived)\b)", "overdosed once at 19, glad to be alive"),
    ("", "none", "exception", r"\b(?:bungee|cliff)\s+jump\w*(?:\s+off\s+(?:a|the)\s+\w+)?|\bjump\w*\s+(?:off|from)\s+(?:the|a)\s+(?:diving|high)\s+board\b", "bungee jumping off a bridge"),
    ("", "none", "exception", r"\b(?:could|'d|would)\s+(?:murder|kill|destroy|demolish)\s+(?:a|an|some)\s+(?!person\b|man\b|woman\b|guy\b|girl\b|boy\b|kid\b|child\b|baby\b)\w+|\bif\s+looks\s+could\s+kill\b[^.!?]{0,60}", "I could murder a curry / if looks could kill"),
    ("", "none", "exception", r"\b(?:going\s+to|gonna|will|'ll)\s+(?:kill|murder)\s+me\s+when\s+(?:she|he|they)\s+(?:sees?|finds?\s+out\s+about|hears?\s+about)\s+(?:my|the)\s+(?:school\s+)?(?:report(?:\s+card)?|grades?|results?|marks|mess|bill|dent|scratch|tattoo|haircut|phone\s+bill)\b", "mum will kill me when she sees my report card"),
    ("", "none", "exception", r"\bcut\s+my\s+own\s+(?:hair|fringe|bangs)\b|\bcut\s+my\s+(?:fringe|bangs)\b|\bshot\s+myself\s+in\s+the\s+foot\b", "cut my own fringe / shot myself in the foot"),
    # suicide: methods and preparation
    (SUICIDE, "crisis", "pattern", r"\b(?:think\w*\s+(?:about|of)|want(?:ed)?\s+to|wanna|going\s+to|gonna|plan\w*\s+(?:to|on)|tempted\s+to|urges?\s+to|consider\w*|could\s+just|might\s+just|fantasi[sz]\w*\s+about|imagin\w*)\s+(?:taking|take|swallow\w*|down\w*|neck\w*)\s+(?:all|every\s+(?:one|last\s+one|single\s+one)|the\s+(?:whole|entire|rest)|enough|too\s+many|a\s+(?:handful|load|bunch|fistful)|loads|dozens)\b.{0,40}?\b(?:pills|tablets|meds|medications?|medicines?|capsules|painkillers|prescriptions?|paracetamol|bottle|packets?|box(?:es)?)\b|\b(?:all|every\s+one|the\s+whole\s+\w+)\s+(?:of\s+)?(?:my|the|these|his|her)?\s*(?:\w+\s+){0,2}(?:pills|tablets|meds|medications?|painkillers|prescription)\s+(?:at\s+once|in\s+one\s+go)\b", "method: taking all my pills/tablets at once"),
    (SUICIDE, "crisis", "pattern", r"\b(?:stockpil\w*|hoard\w*|stash\w*|squirrel\w*\s+away|sav(?:e|ed|ing)(?:\s+up)?|build(?:ing)?\s+up\s+a\s+(?:supply|stash)\s+of)\s+(?:\w+'?s?\s+){0,3}(?:pills|tablets|meds|medications?|painkillers|prescriptions?|sleeping\s+pills)\b", "method: stockpiling medication"),
    (SUICIDE, "crisis", "pattern", r"\bhow\s+(?:many|much)\b.{0,50}\b(?:it\s+would\s+take|would\s+(?:kill|be\s+(?:fatal|lethal|enough))|to\s+(?:die|kill\s+(?:me|myself|a\s+person)|not\s+wake\s+up|overdose)|is\s+(?:fatal|lethal|a\s+lethal))\b|\b(?:lethal|fatal|deadly)\s+(?:dose|amount|quantity)\b|\bhow\s+long\s+(?:it\s+takes|does\s+it\s+take|would\s+it\s+take|to)\s+(?:to\s+)?(?:drown|bleed\s+out|suffocate|die|hang)\b|\bhow\s+high\b.{0,40}\b(?:to\s+die|to\s+make\s+sure|be\s+fatal|kill\s+(?:me|you))\b", "method: how many would it take / lethal dose"),
    (SUICIDE, "crisis", "pattern", r"\bnoose\b|\bligature\b|\b(?:rope|cord|belt|cable|scarf)\b.{0,60}\b(?:around\s+my\s+neck|hold\s+my\s+weight|(?:which|the\s+right)\s+(?:tree|beam|banister)|from\s+the\s+(?:beam|ceiling|loft|banister|tree|rafters))\b|\b(?:beams?|banister|rafters?|loft\s+hatch|door\s+frame)\b.{0,40}\bhold\s+(?:me|my\s+weight)\b", "method: hanging / rope"),
    (SUICIDE, "crisis", "pattern", r"\b(?:step(?:ping)?|jump(?:ing)?|throw(?:ing)?\s+myself|leap(?:ing)?|fall(?:ing)?)\s+(?:off|from|over)\s+(?:the\s+|a\s+|my\s+)?(?:edge|ledge|roof|rooftop|bridge|cliff|balcony|building|tower|car\s+park|multi[\s-]?storey|viaduct|overpass|platform|railings?)\b|\b(?:stood|standing|sat|sitting|climbed\w*|climbing)\s+(?:on|onto|over|at)\s+(?:the\s+)?(?:edge|ledge|railings?|parapet)\s+(?:of\s+)?(?:the\s+|a\s+|my\s+)?(?:[\w-]+\s+){0,3}(?:roof|rooftop|bridge|building|car\s+park|balcony|cliff|platform|tower|block)\b|\bthinking\s+about\s+(?:stepping|throwing\s+myself)\s+(?:off|over)\b", "method: jumping from a height"),
    (SUICIDE, "crisis", "pattern", r"\b(?:walk\w*|step\w*|throw\w*\s+myself|jump\w*|lie|lying|lay)\s+(?:out\s+)?(?:in\s+front\s+of|under|onto)\s+(?:a\s+|the\s+)?(?:train|tube|bus|lorry|truck|car|traffic|tracks?|railway\s+(?:line|tracks?))\b", "method: in front of a train or traffic"),
    (SUICIDE, "crisis", "pattern", r"\b(?:gun|pistol|rifle|shotgun|firearm|revolver)\b.{0,60}\b(?:on\s+myself|for\s+myself|to\s+my\s+(?:head|temple|mouth))\b|\b(?:put|hold|held|holding|pointed?)\s+(?:a\s+|the\s+|my\s+|\w+'s\s+)?(?:gun|pistol|rifle|shotgun)\s+(?:to|against|at|in)\s+my\s+(?:head|temple|mouth|chest)\b", "method: a gun, for myself"),
    (SUICIDE, "concern", "pattern", r"\b(?:when|after|once)\s+i'?m\s+(?:gone|dead|not\s+here\s+any\s*more|no\s+longer\s+(?:here|around))\b(?!\s+(?:for|on|to|away|out|shopping|abroad|travelling))", "preparation: for when I'm gone"),
    (SUICIDE, "crisis", "pattern", r"\b(?:go\s+to\s+sleep|fall\s+asleep|sleep)\s+and\s+(?:never|not)\s+(?:wake\s+up|come\s+back)\b|\b(?:being\s+dead|death|dying)\s+(?:has\s+to\s+be|would\s+be|must\s+be|is|seems)\s+(?:so\s+much\s+|way\s+)?(?:better|easier|preferable|a\s+relief|kinder)\b|\b(?:don'?t|do\s+not|can'?t|cannot)\s+see\s+myself\s+(?:making\s+it|being\s+(?:here|around|alive)|surviving|living|lasting)\b", "euphemisms: sleep and not come back, being dead would be better"),
    (SUICIDE, "crisis", "pattern", r"\b(?:which|what)\s+methods?\b.{0,40}\b(?:hurt|work|painless|quick\w*|certain|sure|reliable)\b|\bpainless\s+(?:ways?|methods?)\b", "method research: which methods don't hurt"),
    (SUICIDE, "concern", "pattern", r"\bif\s+i\s+(?:wasn'?t|weren'?t|was\s+not|were\s+not)\s+(?:here|around|alive)\s+any\s*more\b", "if I wasn't here anymore"),
    ("", "none", "exception", r"\bkill\s+two\s+birds\b|\b(?:was|were|used\s+to\s+be)\s+in\s+an?\s+(?:abusive|violent|toxic)\s+relationship\b(?=.{0,60}\b(?:ago|years|safe\s+now|out\s+of\s+it|left\s+(?:him|her|them))\b)", "kill two birds / an abusive relationship long ago"),
    (SUICIDE, "crisis", "pattern", r"\b(?:wrote|written|writing|write|left|leaving|leave)\s+(?:\w+\s+){0,2}(?:letters?|notes?|messages?)\s+(?:to|for)\s+(?:my\s+\w+|everyone|each\s+of\s+\w+|the\s+kids|people)\b(?=[^.!?]{0,60}\b(?:afterwards|understand|explain\s+why|(?:when|once|after)\s+i'?m\s+gone|forgive\s+me|nearly\s+time|not\s+their\s+fault)\b)|\b(?:picked|chosen|chose|set|settled\s+on)\s+(?:a|the)\s+(?:date|day)\b(?=[^.!?]{0,50}\b(?:calm|ready|at\s+peace|do\s+it|go\s+through\s+with|relief|relieved)\b)", "preparation: letters for afterwards, a date picked"),
    # self-harm: concealment and methods
    (SELF_HARM, "crisis", "pattern", r"\b(?:hid(?:e|es|ing)?|hidden|cover(?:s|ed|ing)?(?:\s+up)?|conceal\w*)\s+(?:up\s+)?(?:the\s+|my\s+|all\s+the\s+)?(?:marks|cuts|scars|burns|wounds|lines|bandages|self[\s-]?harm)\b|\bto\s+(?:hide|cover)\s+(?:up\s+)?(?:the\s+|my\s+)?(?:marks|cuts|scars|burns|lines|wounds|arms|wrists|thighs)\b|\bso\s+(?:nobody|no\s*one|people|my\s+\w+|they|teachers)\s+(?:can\s+)?(?:sees?|notices?|asks?\s+about)\s+(?:the\s+|my\s+)?(?:marks|cuts|scars|burns|lines|wounds|arms|wrists|thighs|legs)\b|\b(?:cuts|marks|scars|burns|lines)\s+(?:on\s+my\s+\w+\s+)?(?:were|are|was)\s+from\s+(?:the|my|a)\s+(?:cat|dog|kitten|puppy|bramble|fall)\b", "self-harm concealment: hiding the marks"),
    (SELF_HARM, "concern", "pattern", r"\b(?:marks|cuts|scars|burns)\b.{0,40}\b(?:hard|harder|impossible)\s+to\s+(?:hide|cover)\b", "scars hard to hide"),
    (SELF_HARM, "crisis", "pattern", r"\b(?:bang\w*|slam\w*|hit\w*)\s+my\s+head\b.{0,40}\buntil\b|\b(?:scratch\w*|pick\w*|claw\w*|dig\w*|pinch\w*|bit(?:e|ing)|punch\w*|hit\w*)\s+(?:at\s+)?(?:my\s+)?(?:\w+\s+){0,2}(?:until|till|til)\s+(?:it|they|i|my\s+\w+|the\s+skin)\s+(?:bleeds?|bled|bruises?|breaks?|splits?)\b", "self-harm: until it bleeds"),
    (SELF_HARM, "crisis", "pattern", r"\b(?:burn\w*|press\w*|hold\w*)\s+(?:my\s+)?(?:skin|arms?|legs?|wrists?|hands?|thighs?|myself)\s+with\s+(?:a\s+)?(?:lighter|cigarettes?|match(?:es)?|hot|lit|iron)\b|\bcarv\w*\b.{0,30}\binto\s+my\s+(?:skin|arms?|forearms?|legs?|thighs?|wrists?|stomach|hand)\b|\b(?:knife|blade|razor|glass|scissors)\s+(?:against|to|on|across|into)\s+my\s+(?:wrists?|arms?|throat|skin|neck|thighs?)\b|\b(?:keep|kept|carry|carrying|hide|hid|hiding|stash\w*)\s+(?:a\s+|my\s+)?(?:blades?|razor\s+blades?|sharpener\s+blades?)\b", "self-harm methods: burning, carving, blades"),
    # harm to others
    (HARM_TO_OTHERS, "crisis", "pattern", r"\b(?:smother\w*|suffocat\w*|strangl\w*|drown\w*)\s+(?:the|my|our|her|his)\s+(?:baby|newborn|infant|toddler|child|kids?|son|daughter)\b|\bpush\w*\s+(?:him|her|them|my\s+\w+|someone)\s+(?:down\s+the\s+stairs|off\s+(?:the|a)\s+\w+|in\s+front\s+of)\b|\b(?:put|putting|slip\w*|spike\w*)\s+(?:something|poison|pills|bleach|rat\s+poison|drugs|antifreeze)\s+(?:in|into)\s+(?:his|her|their|my\s+\w+'?s?|the)\s+(?:drink|food|tea|coffee|dinner|meal)\b", "harm to others: smothering, pushing, poisoning"),
    (HARM_TO_OTHERS, "crisis", "pattern", r"\b(?:list|names)\s+of\s+(?:people|everyone|kids|students|teachers|coworkers|colleagues)\b.{0,40}\b(?:deserve|pay|regret|going\s+to|gonna|will|hurt|kill)\b|\b(?:knife|gun|rifle|shotgun|pistol|bat|hammer|machete|blade)\b.{0,40}\b(?:for\s+when\s+i\s+see\s+(?:him|her|them)|where\s+(?:he|she|they)\s+lives?)\b", "harm to others: a list, a weapon for someone"),
    (HARM_TO_OTHERS, "concern", "pattern", r"\b(?:bought|buying|buy|got|getting|get|got\s+hold\s+of|ordered|found|took|taken|borrowed|stole|stolen)\s+(?:myself\s+)?(?:a|an|my\s+\w+'?s?|the|his|her)\s+(?:(?:new|loaded|old)\s+)?(?:gun|pistol|rifle|shotgun|firearm|handgun|revolver|crossbow|machete)\b", "weapons: getting a gun"),
    # abuse / unsafe at home
    (ABUSE, "crisis", "pattern", r"\b(?:grown|older|adult)\s+(?:man|men|woman|guy)\b.{0,80}\b(?:meet|secret|pictures|photos|nudes|touch\w*)\b|\bmakes?\s+me\s+do\s+(?:things|stuff|sexual)\b|\b(?:i'?ll|i\s+will|i'?d|i\s+would)\s+(?:be|get)\s+in\s+trouble\s+if\s+i\s+tell\b", "grooming: an older man, secrets"),
    (ABUSE, "crisis", "pattern", r"\b(?:throws?|threw|throwing)\s+(?:things|stuff|plates|bottles|glasses|furniture|chairs?)\s+at\s+me\b|\bpinned\s+me\s+(?:against|to|down)\b|\b(?:grabbed|grabs)\s+me\s+by\s+(?:the\s+)?(?:throat|neck|hair)\b|\bbruis\w*\s+(?:on\s+my\s+\w+\s+)?from\s+(?:my|him|her)\b|\bthreaten\w*\s+to\s+(?:kill|stab|hurt|shoot|strangle|burn|beat)\s+me\b|\b(?:hurts|hits|beats|touches)\s+my\s+(?:little\s+|baby\s+|younger\s+|big\s+)?(?:brother|sister|siblings?|mum|mom|mother)\b|\b(?:scared|afraid|frightened|terrified)\s+to\s+(?:leave|come\s+out\s+of)\s+my\s+room\b", "violence at home: thrown things, pinned, threats"),
    (ABUSE, "crisis", "pattern", r"\bi'?m\s+(?:only\s+)?(?:[5-9]|1[0-7])\b(?!\s*(?:minutes|mins|hours|weeks|days|months|years|pounds|kg|stone|%|am|pm|o'?clock|:)).{0,80}\b(?:no\s+(?:adults?|grown[\s-]?ups|parents?|food)|shed|locked|outside\s+as|sleep\s+outside)\b|\b(?:no\s+(?:adults?|grown[\s-]?ups)|shed|locked|hits?|hurts?|touch\w*|beats?)\b.{0,80}\bi'?m\s+(?:only\s+)?(?:[5-9]|1[0-7])\b(?!\s*(?:minutes|mins|hours|weeks|days|months|years|pounds|kg|stone|%|am|pm|o'?clock|:))", "a minor: no adults at home, shut out"),
    # medical emergency
    (MEDICAL, "crisis", "pattern", r"\b(?:injected|took|taken|swallowed|downed|drank|had)\s+(?:all|every\s+one|the\s+whole|the\s+rest)\s+(?:of\s+)?(?:my|the|her|his)?\s*(?:\w+\s+){0,2}(?:insulin|pills|tablets|meds|medication|painkillers|pens?|bottle|pack\w*|box)\b|\b(?:injected|took|had)\s+(?:way\s+)?too\s+much\s+insulin\b|\b(?:drank|drunk|swallowed|ate|eaten|got\s+into|licked)\s+(?:some\s+)?(?:bleach|poison|antifreeze|weedkiller|rat\s+poison|cleaning\s+\w+|dishwasher\s+(?:tablets?|pods?)|washing\s+(?:pods?|capsules?)|laundry\s+(?:pods?|capsules?)|(?:a\s+)?(?:button\s+)?batter(?:y|ies)|something\s+from\s+under\s+the\s+sink)\b", "overdose / poisoning: injected all my insulin, drank bleach"),
    (MEDICAL, "crisis", "pattern", r"\b(?:isn'?t|is\s+not|aren'?t|are\s+not|stopped|has\s+stopped|keeps\s+stopping)\s+breathing\b|\b(?:breathing|breaths?)\s+(?:is\s+|are\s+)?(?:really\s+|very\s+)?(?:slow|shallow|rattling|gurgling)\b|\b(?:is|went|gone|seems|feels)\s+(?:all\s+)?floppy\b", "not breathing properly / floppy"),
    (MEDICAL, "crisis", "pattern", r"\b(?:throwing\s+up|vomiting|coughing\s+up|puking|spitting\s+up)\s+blood\b|\b(?:can'?t|cannot)\s+(?:lift|move|feel)\s+my\s+(?:arm|leg|face|left|right)\b|\b(?:one\s+side\s+of|half(?:\s+of)?)\s+my\s+(?:face|body|mouth)\b.{0,30}\b(?:numb|droop\w*|dropped|won'?t\s+move|paralys\w*)|\b(?:is|are|started|keeps?|was)\s+(?:fitting|convulsing|seizing)\b(?!\s+(?:nicely|well|perfectly|in|into|the|for))|\bhaving\s+a\s+fit\b|\bconvuls\w*|\bunresponsive\b|\b(?:she|he|they|my\s+\w+)\s+(?:isn'?t|won'?t|doesn'?t|is\s+not|can'?t)\s+(?:respond(?:ing)?|wake\s+(?:her|him)\s+up)\b(?!\s+to\s+(?:my\s+)?(?:texts?|messages?|emails?|calls?))|\b(?:diabetic|blood\s+sugar|hypo)\b.{0,60}\b(?:shaking|confused|can'?t\s+(?:stand|think|see)|passing\s+out|faint|crashing|collapsed|slurring)\b", "medical signs: vomiting blood, stroke, seizure, unresponsive, hypo"),
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
