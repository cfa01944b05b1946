"""Word lists per language, from which the speech sources build seeded sentences.

Common words (nouns, verbs, adjectives, numbers) in each language's own script; the
sentences need not make sense, only sound like the language to its voice's lexicon
and letter-to-sound rules.
"""

from __future__ import annotations

import numpy as np

WORDS: dict[str, tuple[str, ...]] = {
    "english": tuple(
        "the a quick brown fox jumps over lazy dog while seven bright singers hum along "
        "morning rain falls softly on old green hills and rivers carry music to sea people "
        "often whisper numbers one two three four five yesterday tomorrow beautiful orange "
        "window garden voice sound listen really hello train station coffee table paper "
        "walk slowly never always because little house city mountain".split()
    ),
    "czech": tuple(
        "dobrý den ráno večer voda slunce město řeka hora zahrada okno dveře stůl kniha "
        "škola hudba píseň zpívat mluvit chodit pomalu rychle velký malý krásný starý "
        "nový jeden dva tři čtyři pět vlak nádraží káva čaj chléb dům pes kočka strom "
        "modrý zelený dnes zítra včera vždycky nikdy proto protože".split()
    ),
    "italian": tuple(
        "buongiorno sera mattina acqua sole città fiume montagna giardino finestra porta "
        "tavolo libro scuola musica canzone cantare parlare camminare piano presto grande "
        "piccolo bello vecchio nuovo uno due tre quattro cinque treno stazione caffè pane "
        "casa cane gatto albero azzurro verde oggi domani ieri sempre mai perché".split()
    ),
    "finnish": tuple(
        "hyvää huomenta ilta aamu vesi aurinko kaupunki joki vuori puutarha ikkuna ovi "
        "pöytä kirja koulu musiikki laulu laulaa puhua kävellä hitaasti nopeasti suuri "
        "pieni kaunis vanha uusi yksi kaksi kolme neljä viisi juna asema kahvi leipä talo "
        "koira kissa puu sininen vihreä tänään huomenna eilen aina koskaan koska".split()
    ),
    "catalan": tuple(
        "bon dia matí vespre aigua sol ciutat riu muntanya jardí finestra porta taula "
        "llibre escola música cançó cantar parlar caminar lentament ràpid gran petit bonic "
        "vell nou un dos tres quatre cinc tren estació cafè pa casa gos gat arbre blau "
        "verd avui demà ahir sempre mai perquè".split()
    ),
    "russian": tuple(
        "доброе утро вечер вода солнце город река гора сад окно дверь стол книга школа "
        "музыка песня петь говорить гулять медленно быстро большой маленький красивый "
        "старый новый один два три четыре пять поезд вокзал кофе хлеб дом собака кошка "
        "дерево синий зелёный сегодня завтра вчера всегда никогда потому".split()
    ),
    "hindi": tuple(
        "सुबह शाम पानी सूरज शहर नदी पहाड़ बगीचा खिड़की दरवाज़ा मेज़ किताब स्कूल संगीत गाना "
        "गाना बोलना चलना धीरे जल्दी बड़ा छोटा सुंदर पुराना नया एक दो तीन चार पाँच रेलगाड़ी "
        "स्टेशन चाय रोटी घर कुत्ता बिल्ली पेड़ नीला हरा आज कल हमेशा कभी क्योंकि".split()
    ),
    "marathi": tuple(
        "सकाळ संध्याकाळ पाणी सूर्य शहर नदी डोंगर बाग खिडकी दार टेबल पुस्तक शाळा संगीत गाणे "
        "बोलणे चालणे हळू लवकर मोठा लहान सुंदर जुना नवा एक दोन तीन चार पाच गाडी स्टेशन चहा "
        "भाकरी घर कुत्रा मांजर झाड निळा हिरवा आज उद्या काल नेहमी कधीच कारण".split()
    ),
    "telugu": tuple(
        "ఉదయం సాయంత్రం నీరు సూర్యుడు నగరం నది కొండ తోట కిటికీ తలుపు బల్ల పుస్తకం బడి సంగీతం "
        "పాట పాడటం మాట్లాడటం నడవటం నెమ్మదిగా త్వరగా పెద్ద చిన్న అందమైన పాత కొత్త ఒకటి రెండు "
        "మూడు నాలుగు ఐదు రైలు స్టేషను కాఫీ రొట్టె ఇల్లు కుక్క పిల్లి చెట్టు నీలం పచ్చ ఈరోజు "
        "రేపు నిన్న ఎప్పుడూ ఎందుకంటే".split()
    ),
}


def sentence(rng: np.random.Generator, language: str, low: int = 3, high: int = 12) -> str:
    """``low`` to ``high`` words of ``language`` drawn with ``rng``, in one to three
    clauses, ending with a full stop, a question mark or an exclamation mark (Festival's
    phrasing and intonation follow the punctuation)."""
    words = list(rng.choice(WORDS[language], size=int(rng.integers(low, high + 1))))
    for _ in range(int(rng.integers(0, 3))):
        if len(words) > 2:
            at = int(rng.integers(1, len(words) - 1))
            words[at] += ","
    text = " ".join(words)
    return text[0].upper() + text[1:] + str(rng.choice([".", ".", "?", "!"]))
