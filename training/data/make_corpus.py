"""Regenerate ``supportive_conversations.jsonl``, the corpus the bootstrap base model learns from.

The sentences below were written for this project: short, warm, plain-language exchanges
between a person and a supportive assistant. They are combined into a few hundred
conversations with a fixed seed, so the shipped file is reproducible:

    python training/data/make_corpus.py > training/data/supportive_conversations.jsonl
"""

import json
import random

TOPICS = {
    "work": {
        "openers": [
            "Work has been really stressful lately and I can't switch off at night.",
            "My manager criticised my report in front of everyone and I feel awful.",
            "I have too many deadlines this week and I don't know where to start.",
            "I think I might lose my job and I keep worrying about money.",
            "I feel like I'm not good enough at my job compared to my colleagues.",
        ],
        "reflections": [
            "That sounds exhausting. When work follows you home, it is hard to rest.",
            "Being criticised in front of others can feel really painful and embarrassing.",
            "It makes sense that you feel overwhelmed with so much arriving at once.",
            "Worrying about your job and money is a heavy thing to carry.",
        ],
        "followups": [
            "Yes, I keep going over everything in my head when I try to sleep.",
            "I just feel like everyone is watching me and waiting for me to fail.",
            "I don't want to let anyone down, so I say yes to everything.",
        ],
    },
    "sleep": {
        "openers": [
            "I haven't been sleeping well for weeks.",
            "I wake up at three in the morning and can't get back to sleep.",
            "I'm so tired all the time but my mind won't stop at night.",
        ],
        "reflections": [
            "Weeks of poor sleep can make everything else feel harder.",
            "Waking in the night and lying there with your thoughts sounds really frustrating.",
            "Being tired and wired at the same time is a hard combination.",
        ],
        "followups": [
            "I usually look at my phone when I can't sleep and then it gets worse.",
            "My thoughts just race about tomorrow and everything I have to do.",
        ],
    },
    "loneliness": {
        "openers": [
            "I feel lonely even when I'm around other people.",
            "I moved to a new city and I don't know anyone here.",
            "My friends seem busy and I feel like nobody really checks on me.",
            "Since my partner and I broke up the evenings feel very empty.",
        ],
        "reflections": [
            "Feeling lonely in a crowd can be one of the most isolating feelings.",
            "Starting over in a new place takes a lot of courage, and it can feel lonely at first.",
            "It hurts when it seems like the people you care about are not reaching out.",
            "After a breakup, the quiet moments can feel especially heavy.",
        ],
        "followups": [
            "I want to reach out but I'm scared of being a bother.",
            "I go to work and come home and that's it, every day.",
            "I miss having someone to talk to about small things.",
        ],
    },
    "anxiety": {
        "openers": [
            "I get really anxious before social events and sometimes I cancel at the last minute.",
            "My heart races and I feel on edge for no clear reason.",
            "I keep worrying that something bad is going to happen to my family.",
            "I have a presentation next week and I'm already panicking about it.",
        ],
        "reflections": [
            "Anxiety before social events is very common, and cancelling can bring relief and regret together.",
            "Feeling on edge without knowing why can be unsettling.",
            "Worrying about the people we love shows how much they matter to you.",
            "It sounds like the presentation is taking up a lot of space in your mind already.",
        ],
        "followups": [
            "I think people will judge me if I say something wrong.",
            "When it happens I can't think straight and I just want to leave.",
            "I try to tell myself it's fine but the feeling doesn't go away.",
        ],
    },
    "low_mood": {
        "openers": [
            "I've been feeling down and I don't enjoy things the way I used to.",
            "Everything feels like a lot of effort at the moment.",
            "I feel flat most days and I don't really know why.",
        ],
        "reflections": [
            "Losing interest in things you used to enjoy can be really discouraging.",
            "When everything takes effort, even small tasks can feel like a mountain.",
            "Feeling flat without a clear reason can be confusing and tiring.",
        ],
        "followups": [
            "I used to go running and play music but now I just stay in.",
            "I get through the day but nothing feels good.",
        ],
    },
    "family": {
        "openers": [
            "I had a big argument with my mum and we're not speaking now.",
            "My parents keep comparing me to my brother and it really hurts.",
            "Looking after my dad while working full time is wearing me down.",
        ],
        "reflections": [
            "Arguments with someone close can leave you feeling unsettled for days.",
            "Being compared to a sibling can make you feel unseen for who you are.",
            "Caring for a parent while working is a huge amount to hold, and it is okay to feel worn down.",
        ],
        "followups": [
            "I want to fix it but I also feel like she should apologise.",
            "Nothing I do ever seems to be enough for them.",
            "I feel guilty even thinking about needing a break.",
        ],
    },
    "study": {
        "openers": [
            "My exams are coming up and I can't concentrate on revising.",
            "I failed a test and I feel like a complete failure.",
            "I'm behind on my coursework and I'm scared to tell my tutor.",
        ],
        "reflections": [
            "Trying to revise when your mind keeps wandering is really frustrating.",
            "One failed test can feel huge in the moment, but it does not define you.",
            "Falling behind can make it feel harder and harder to ask for help.",
        ],
        "followups": [
            "I sit down to study and end up scrolling for an hour.",
            "Everyone else seems to cope fine and I don't.",
        ],
    },
}

QUESTIONS = [
    "What do you think makes it hardest right now?",
    "How long have you been feeling this way?",
    "What usually helps you, even a little, when you feel like this?",
    "Is there someone in your life you feel comfortable talking to about it?",
    "What goes through your mind when that happens?",
    "How has this been affecting your day to day life?",
    "Would you like to talk through what happened?",
]

SUGGESTIONS = {
    "work": [
        "It might help to write tomorrow's three most important tasks down before you finish work, so your mind can let go of them.",
        "Could you try breaking the work into small steps and starting with the one that takes ten minutes?",
        "Setting a clear end to the work day, like a short walk, can help your mind switch off.",
    ],
    "sleep": [
        "Some people find it helps to keep the phone out of the bedroom and do something calm, like reading, for a while before bed.",
        "If your thoughts race, you could keep a notebook by the bed and write them down so they can wait until morning.",
        "A slow breathing exercise, breathing in for four counts and out for six, can help your body settle.",
    ],
    "loneliness": [
        "Would it feel possible to send a short message to one friend this week, just to say hello?",
        "Joining a small group around something you enjoy, like a walking club or a class, can make meeting people a little easier.",
        "Reaching out is rarely a bother to people who care about you, even if it feels that way.",
    ],
    "anxiety": [
        "A grounding exercise can help in the moment: notice five things you can see, four you can hear, and three you can touch.",
        "Practising the presentation out loud a few times, maybe with one friend, can make it feel more familiar.",
        "It can help to remind yourself that anxiety is uncomfortable but it passes, and you have got through it before.",
    ],
    "low_mood": [
        "Sometimes doing one small thing you used to enjoy, even for ten minutes, can gently lift your mood.",
        "A short walk outside each day can make a difference, even when motivation is low.",
        "It may be worth talking to your doctor about how you have been feeling, as low mood that lasts is something they can help with.",
    ],
    "family": [
        "When you feel ready, you could write down what you would like her to understand before talking to her.",
        "It is okay to tell your parents calmly how the comparisons make you feel.",
        "Looking for local carer support or asking another relative to share some of the load could give you some time for yourself.",
    ],
    "study": [
        "Short focused blocks, like twenty five minutes of study and then a five minute break, can make revising feel more manageable.",
        "Talking to your tutor early is usually easier than you expect, and they would rather know so they can help.",
        "Try to be as kind to yourself as you would be to a friend who failed a test.",
    ],
}

CLOSERS = [
    ("That's helpful, thank you. I'll try that.", "I'm glad it helped. Be gentle with yourself, and come back any time you want to talk."),
    ("Thanks for listening.", "Thank you for sharing this with me. You don't have to handle it all on your own."),
    ("I think I feel a bit better now.", "I'm really glad to hear that. Small steps count, and you are taking them."),
    ("Okay, I'll give it a go this week.", "That sounds like a good plan. I hope it goes well, and I'm here if you want to talk about how it went."),
]

GREETINGS = [
    ("Hi.", "Hello, I'm glad you're here. What would you like to talk about today?"),
    ("Hello, can I talk to you about something?", "Of course. Take your time and tell me what is on your mind."),
    ("Are you a real therapist?", "No, I'm an AI assistant, not a human or a licensed therapist. I'm here to listen and support you, and I can suggest other help if you need it."),
]


def conversation(rng: random.Random) -> list[dict]:
    topic = rng.choice(list(TOPICS))
    parts = TOPICS[topic]
    turns: list[tuple[str, str]] = []
    if rng.random() < 0.25:
        turns.append(rng.choice(GREETINGS))
    turns.append(
        (rng.choice(parts["openers"]), f"{rng.choice(parts['reflections'])} {rng.choice(QUESTIONS)}")
    )
    if rng.random() < 0.8:
        turns.append((rng.choice(parts["followups"]), rng.choice(SUGGESTIONS[topic])))
    if rng.random() < 0.6:
        turns.append(rng.choice(CLOSERS))
    messages = []
    for user, assistant in turns:
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    return messages


if __name__ == "__main__":
    rng = random.Random(20261124)
    for _ in range(400):
        print(json.dumps({"messages": conversation(rng)}))
