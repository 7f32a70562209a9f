"""Word lists the synthetic catalog is drawn from: titles, genres, providers, tropes, DNA labels."""

from __future__ import annotations

ADJECTIVES = (
    "Silent", "Broken", "Golden", "Last", "Hidden", "Crimson", "Distant", "Electric", "Frozen", "Wild",
    "Secret", "Burning", "Lonely", "Iron", "Velvet", "Hollow", "Bright", "Savage", "Quiet", "Endless",
    "Midnight", "Scarlet", "Lost", "Little", "Dark", "Sweet", "Bitter", "Northern", "Final", "Second",
)
NOUNS = (
    "River", "Garden", "Empire", "Kingdom", "Harbor", "Winter", "Summer", "Mountain", "Station", "Forest",
    "Witness", "Stranger", "Promise", "Machine", "Island", "Letter", "Shadow", "Valley", "Circle", "Road",
    "Hunter", "Dancer", "Signal", "Orchard", "Lantern", "Frontier", "Tide", "Crown", "Echo", "Horizon",
)
NAMES = ("Amélie", "Zoë", "Søren", "Björk", "José", "Anaïs", "Dorothy", "Marcus", "Nadia", "Élodie", "Renée", "Jack")
# Titles whose original is not in Latin script: no site slug can be made from the original title.
FOREIGN_ORIGINALS = (
    ("ru", "Тихая река"), ("ja", "静かな川"), ("ko", "조용한 강"), ("zh", "沉默的河"), ("el", "Σιωπηλό ποτάμι"),
    ("fr", "La Rivière silencieuse"), ("de", "Der stille Fluss"), ("es", "El río callado"),
)
TITLE_PATTERNS = (
    "The {adj} {noun}", "{noun} of the {noun2}", "{adj} {noun}", "The {noun}", "{name}'s {noun}",
    "A {adj} {noun}", "{adj} {noun}: Part {part}", "The {noun} & the {noun2}", "{noun}",
)

MOVIE_GENRES = (
    (28, "Action"), (12, "Adventure"), (16, "Animation"), (35, "Comedy"), (80, "Crime"), (99, "Documentary"),
    (18, "Drama"), (10751, "Family"), (14, "Fantasy"), (36, "History"), (27, "Horror"), (10402, "Music"),
    (9648, "Mystery"), (10749, "Romance"), (878, "Science Fiction"), (53, "Thriller"), (10752, "War"),
    (37, "Western"),
)
TV_GENRES = (
    (10759, "Action & Adventure"), (16, "Animation"), (35, "Comedy"), (80, "Crime"), (99, "Documentary"),
    (18, "Drama"), (10751, "Family"), (10762, "Kids"), (9648, "Mystery"), (10765, "Sci-Fi & Fantasy"),
    (10766, "Soap"), (10768, "War & Politics"), (37, "Western"),
)
KEYWORDS = (
    (818, "based on novel or book"), (9748, "revenge"), (4344, "musician"), (10183, "independent film"),
    (6054, "friendship"), (1701, "hero"), (9715, "superhero"), (14544, "small town"), (5565, "biography"),
    (10084, "rescue"), (3799, "ballet"), (1568, "underwater"), (4565, "dystopia"), (11612, "hospital"),
    (156810, "heist"), (33637, "time travel"), (10714, "serial killer"), (9663, "sequel"), (9937, "suspense"),
    (209714, "3d"), (15060, "island"), (2343, "magic"), (12377, "zombie"), (5600, "daughter"),
)
PEOPLE = (
    "Ava Lindqvist", "Rafael Moreno", "Mei Tanaka", "Oskar Brandt", "Chiara Bellini", "Tomasz Nowak",
    "Amara Okafor", "Liam O'Connell", "Sofía Castaño", "Jun-ho Park", "Elise Fournier", "Dmitri Volkov",
    "Priya Raman", "Noah Whitfield", "Hana Kovač", "Mateo Ruiz", "Ingrid Halvorsen", "Kwame Mensah",
)
# Directors are drawn from first and last names (1,600 people): same-title twins rarely share one.
FIRST_NAMES = (
    "Ada", "Bruno", "Celia", "Dario", "Edith", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Lars", "Maya",
    "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wim", "Xenia", "Yusuf", "Zora",
    "Anouk", "Bilal", "Carmen", "Diego", "Emil", "Frida", "Goran", "Hedda", "Ivo", "Jana", "Karim", "Lea", "Milo",
    "Nora",
)
LAST_NAMES = (
    "Abara", "Bergström", "Castellanos", "Dufresne", "Eriksen", "Ferreira", "Gallagher", "Horvat", "Ibsen",
    "Jansen", "Kowalczyk", "Lindgren", "Marchetti", "Nakamura", "Okonkwo", "Petrović", "Quintero", "Rossi",
    "Sandoval", "Takahashi", "Urquhart", "Vasquez", "Wójcik", "Xavier", "Yamamoto", "Zeller", "Almeida",
    "Brennan", "Carlsson", "Delacroix", "Esposito", "Fitzgerald", "García", "Haddad", "Ivanova", "Jovanović",
    "Kaur", "Lefebvre", "Moreau", "Novak",
)
# Letters of non-Latin scripts, for titles whose TMDB title is their original (no English title on TMDB).
CYRILLIC = dict(zip("abcdefghijklmnopqrstuvwxyz", "абкдефгхийклмнопкрстуввксз", strict=True))
GREEK = dict(zip("abcdefghijklmnopqrstuvwxyz", "αβκδεφγηιξκλμνοπθρστυβωχψζ", strict=True))
KATAKANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
# (provider_id, name, logo_path) — real TMDB provider ids.
PROVIDERS = (
    (8, "Netflix", "/pbpMk2JmcoNnQwx5JGpXngfoWtp.jpg"), (9, "Amazon Prime Video", "/pvske1MyAoymrs5bguRfVqYiM9a.jpg"),
    (337, "Disney Plus", "/97yvRBw1GzX7fXprcF80er19ot.jpg"), (350, "Apple TV+", "/2E03IAZsX4ZaUqM7tXlctEPMGWS.jpg"),
    (15, "Hulu", "/bxBlRPEPpMVDc4jMhSrTf2339DW.jpg"), (1899, "Max", "/jbe4gVSfRlbPTdESXhEKpornsfu.jpg"),
    (386, "Peacock Premium", "/2aGrp1xw3qhwCYvNGAJZPdjfeeX.jpg"), (531, "Paramount Plus", "/h5DcR0J2EESLitnhR8xLG1QymTE.jpg"),
    (2, "Apple TV", "/SPnB1qiCkYfirS2it3hZORwGVn.jpg"), (3, "Google Play Movies", "/8z7rC8uIDaTM91X0ZfkRf04ydj2.jpg"),
    (10, "Amazon Video", "/seGSXajazLMCKGB5hnRCidtjay1.jpg"), (192, "YouTube", "/pTnn5JwWr4p3pG8H6VrpiQo7Vs0.jpg"),
    (68, "Microsoft Store", "/5vfrJQgNe9UnHVgVNAwZTy0Jo9o.jpg"), (7, "Fandango At Home", "/i6lRmkKmJ23oOjL0wJYdDGVqVkV.jpg"),
    (283, "Crunchyroll", "/fzN5Jok5Ig1eJ7gyNGoMhnLSCfh.jpg"), (300, "Pluto TV", "/dB8G41Q6tSL5NBisrIeqByfepBc.jpg"),
    (73, "Tubi TV", "/zLYr8OxKOgTVqd7Ek6uYR7mt6IO.jpg"), (207, "The Roku Channel", "/z0h7mBHwm5KfMB2MKeoQDD2ngEZ.jpg"),
)
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "BR", "JP", "IN", "ES", "MX", "NL")
OFFER_TYPES = ("flatrate", "rent", "buy", "ads", "free")
CERTIFICATIONS = ("G", "PG", "PG-13", "R", "NC-17")
TV_RATINGS = ("TV-Y7", "TV-PG", "TV-14", "TV-MA")

TROPES = tuple(
    "AbsurdlySharpBlade ActionGirl AdaptationalVillainy AnachronismStew AntiHero BadassBookworm BatmanGambit "
    "BeautyEqualsGoodness BerserkButton BigBad BittersweetEnding BlackComedy BodyHorror BreakingTheFourthWall "
    "ButtMonkey CallBack CentralTheme ChekhovsGun CoolOldGuy CrapsackWorld DarkerAndEdgier DeadpanSnarker "
    "DeathByIrony DecoyProtagonist DespairEventHorizon DistressedDamsel DownerEnding DrivenToSuicide "
    "EarlyBirdCameo EvilIsHammy FaceHeelTurn FamilyUnfriendlyDeath FiveFiveFive FlashbackCut ForegoneConclusion "
    "FourthWallBreak GambitRoulette GentleGiant GoryDiscretionShot GreyAndGrayMorality HeroicSacrifice "
    "HiddenDepths HoistByHisOwnPetard HumansAreTheRealMonsters IronicEcho JerkWithAHeartOfGold KarmicDeath "
    "KickTheDog LoveTriangle MacGuffin ManipulativeBastard MeaningfulName MentorOccupationalHazard "
    "MythologyGag NiceJobBreakingItHero NoodleIncident OhCrap OneWordTitle PetTheDog PlotHole "
    "RedHerring RonTheDeathEater SacrificialLamb ShownTheirWork SlowBurn SmugSnake SoundtrackDissonance "
    "StealthPun TheAtoner TheDogBitesBack TheReveal TitleDrop TomatoInTheMirror TragicHero UnreliableNarrator "
    "VillainousBreakdown WhamEpisode WhatHappenedToTheMouse WorthyOpponent YouCanNotFightFate".split()
)

DNA_LABELS = {
    "Sub-Genres": ("Neo-Noir", "Psychological Thriller", "Coming-of-Age", "Space Opera", "Heist", "Folk Horror",
                   "Romantic Comedy", "Courtroom Drama", "Road Movie", "Dark Fantasy", "Cyberpunk", "Whodunit"),
    "Mood": ("Melancholic", "Tense", "Whimsical", "Bleak", "Uplifting", "Dreamlike", "Gritty", "Cozy", "Eerie",
             "Bittersweet", "Euphoric", "Claustrophobic"),
    "Themes": ("Identity", "Redemption", "Grief", "Power", "Family Bonds", "Isolation", "Revenge", "Memory",
               "Class Struggle", "Faith", "Freedom", "Obsession"),
    "Plot": ("Unlikely Alliance", "Race Against Time", "Fish Out of Water", "Double Cross", "Quest",
             "Rags to Riches", "Forbidden Love", "Descent into Madness", "Last Job", "Homecoming"),
    "Character Types": ("Reluctant Hero", "Femme Fatale", "Mentor", "Trickster", "Antihero", "Outsider",
                        "Tragic Villain", "Wise Child", "Loyal Sidekick", "Lone Wolf"),
    "Dialog": ("Witty Banter", "Sparse", "Philosophical", "Profane", "Poetic", "Naturalistic", "Expository"),
    "Narrative": ("Nonlinear", "Unreliable Narrator", "Ensemble", "Framed Story", "Real Time", "Episodic"),
    "Humor": ("Deadpan", "Slapstick", "Satirical", "Dark Humor", "Absurdist", "Gentle", "None Intended"),
    "Pacing": ("Slow Burn", "Breakneck", "Measured", "Meandering", "Escalating"),
    "Time": ("1920s", "1950s", "1970s", "1980s", "Present Day", "Near Future", "Far Future", "Medieval",
             "Victorian Era"),
    "Place": ("Small Town", "Big City", "Desert", "Space Station", "Island", "Suburbia", "Arctic", "Jungle",
              "Boarding School", "Royal Court"),
    "Cinematic Style": ("Handheld Camera", "Long Takes", "Neon Lighting", "Black and White", "Widescreen Vistas",
                        "Found Footage", "Stylized Violence"),
    "Score and Sound": ("Synth Score", "Orchestral", "Jazz", "Minimalist", "Needle Drops", "Silence"),
    "Costume and Set": ("Period Costumes", "Retro-Futurism", "Grimy Interiors", "Opulent Sets", "Uniforms"),
    "Key Props": ("Briefcase", "Old Photograph", "Revolver", "Music Box", "Map", "Letter", "Car", "Key"),
    "Target Audience": ("Adults", "Teens", "Families", "Film Buffs", "Genre Fans"),
    "Content Flags": ("Violence", "Strong Language", "Sexual Content", "Drug Use", "Frightening Scenes", "Mild Peril"),
}

DNA_VARIANTS = {
    "Slow Burn": "Slow-Burn", "Dark Humor": "Dark Humour", "Neo-Noir": "Neo Noir", "Small Town": "Small-Town",
    "Black and White": "Black & White", "Psychological Thriller": "Psychological Thrillers", "Mentor": "Mentors",
    "Letter": "Letters",
}
"""Spellings a model also uses for a label: normalisation cannot see they are one label, embeddings can."""
