"""Short customer messages in languages Attune's models do not read, written for this benchmark.

Each is what a Parcelpine customer might plausibly write (orders, deliveries, refunds, accounts),
most of them short, some with an order number or an e-mail address in them.  bench/language.py
measures how many the detector flags; the English side comes from ../shared/data.
"""

from typing import Final

# ruff: noqa: RUF001  (the samples are written in their own scripts and punctuation)

FOREIGN: Final[dict[str, tuple[str, ...]]] = {
    "es": (
        "¿Dónde está mi pedido 10002?",
        "Mi paquete llegó roto",
        "Quiero un reembolso, por favor",
        "No puedo entrar en mi cuenta",
        "Hola, necesito ayuda con mi pedido",
        "quiero hablar con una persona",
        "El pedido 10003 todavía no ha llegado",
        "Me cobraron dos veces el mismo pedido",
    ),
    "de": (
        "Hallo, wo ist meine Bestellung 10004?",
        "Das Paket ist beschädigt angekommen",
        "Ich möchte mein Geld zurück",
        "Mein Passwort funktioniert nicht",
        "Ich will mit einem Menschen sprechen",
        "Meine Lieferung ist immer noch nicht da",
        "Bitte kündigen Sie mein Abo",
        "Warum wurde mir das doppelt berechnet?",
    ),
    "fr": (
        "Où est ma commande 10002 ?",
        "Je veux un remboursement",
        "Mon colis est arrivé abîmé",
        "Je n'arrive pas à me connecter à mon compte",
        "Je voudrais parler à quelqu'un",
        "Ma livraison a du retard, c'est inacceptable",
        "Bonjour, pouvez-vous m'aider avec ma commande ?",
        "On m'a facturé deux fois",
    ),
    "it": (
        "Dov'è il mio ordine 10002?",
        "Il pacco è arrivato danneggiato",
        "Vorrei un rimborso per favore",
        "Non riesco ad accedere al mio account",
        "Voglio parlare con una persona",
        "La consegna è in ritardo di una settimana",
        "Buongiorno, ho bisogno di aiuto con un ordine",
        "Mi avete addebitato due volte",
    ),
    "pt": (
        "Onde está o meu pedido 10002?",
        "A encomenda chegou danificada",
        "Quero o meu dinheiro de volta",
        "Não consigo entrar na minha conta",
        "Quero falar com uma pessoa",
        "A entrega está muito atrasada",
        "Olá, preciso de ajuda com a minha encomenda",
        "Fui cobrado duas vezes pelo mesmo pedido",
    ),
    "nl": (
        "Waar is mijn bestelling 10002?",
        "Het pakket is beschadigd aangekomen",
        "Ik wil mijn geld terug",
        "Ik kan niet inloggen op mijn account",
        "Ik wil met een medewerker praten",
        "Mijn levering is nog steeds niet aangekomen",
        "Hallo, kunnen jullie me helpen met mijn bestelling?",
        "Er is twee keer geld afgeschreven",
    ),
    "pl": (
        "Gdzie jest moje zamówienie 10002?",
        "Paczka przyszła uszkodzona",
        "Chcę zwrotu pieniędzy",
        "Nie mogę zalogować się na konto",
        "Chcę rozmawiać z człowiekiem",
        "Dostawa jest opóźniona o tydzień",
        "Dzień dobry, potrzebuję pomocy z zamówieniem",
        "Pobrano ode mnie opłatę dwa razy",
    ),
    "sv": ("Var är min beställning 10002?", "Paketet kom fram trasigt", "Jag vill ha pengarna tillbaka"),
    "tr": ("Siparişim 10002 nerede?", "Paket hasarlı geldi", "Paramı geri istiyorum"),
    "ru": ("Где мой заказ 10002?", "Посылка пришла повреждённой", "Я хочу вернуть деньги"),
    "uk": ("Де моє замовлення 10002?", "Посилка прийшла пошкодженою", "Я хочу повернути гроші"),
    "ar": ("أين طلبي 10002؟", "وصل الطرد تالفًا", "أريد استرداد أموالي"),
    "zh": ("我的订单10002在哪里？", "包裹到的时候已经坏了", "我想退款"),
    "ja": ("注文10002はどこですか？", "荷物が壊れて届きました", "返金してください"),
}

# Messages that must never be flagged: payloads, numbers, addresses, one-word replies, English.
NEVER_FOREIGN: Final = (
    "10002",
    "/affirm",
    "/deny",
    '/inform{"order_id": "10002"}',
    "ana@example.com",
    "+44 7911 123456",
    "SW1A 1AA",
    "123456",
    "ok",
    "hola",
    "sí",
    "ja",
    "oui",
    "no",
    "merci",
    "danke",
    "where is my order 10002",
    "wher is my ordr 10003 pls",
    "great, just great",
    "I'm scared, I can't afford this, my rent is due",
    "hola, where is my order 10002?",
    "ugh, that's foul",
    "",
    "   ",
    "🙃🙃🙃",
)
