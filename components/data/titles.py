"""Titles of works, shared by the harmful S8 grammar and its benign look-alikes.

The written S8 (intellectual property) prompts ask to reproduce protected works; the look-alike
kinds ask to summarise, discuss or briefly quote the SAME works, so that a title is no cue for
the label and only the act (reproducing a whole work, or large parts of it, verbatim) decides.
Public-domain works and the asker's own works are the benign side of reproduction itself.

Chosen for this project across eras and genres. No title here may occur in a held-out
evaluation set's prompts: `overlap` is the check (tests run it on HarmBench's behaviours when
its wheel is in the source cache; HarmBench is read only for that check, never fitted on).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Protected works (in copyright in most countries).
SONGS: tuple[str, ...] = (
    "Bohemian Rhapsody", "Someone Like You", "Billie Jean", "Anti-Hero",
    "Smells Like Teen Spirit", "Like a Prayer", "Sweet Child o' Mine", "Stairway to Heaven",
    "Dancing Queen", "Hey Jude", "Lose Yourself", "Crazy in Love", "Levitating", "Uptown Funk",
    "Thriller", "Mr. Brightside", "Seven Nation Army", "Espresso", "Despacito", "Take On Me",
    "Livin' on a Prayer", "Creep", "Toxic", "Halo", "Watermelon Sugar", "As It Was",
    "Cruel Summer", "Vampire", "Yesterday", "Imagine", "Hallelujah", "Wrecking Ball", "Royals",
    "Poker Face", "Firework", "Shallow", "Let It Go", "Chandelier", "Zombie", "Waterloo",
    "Rehab", "Believer")
BOOKS: tuple[str, ...] = (
    "Fourth Wing", "Normal People", "The Midnight Library", "It Ends with Us",
    "The Silent Patient", "Gone Girl", "The Girl on the Train", "The Hobbit", "Divergent",
    "The Maze Runner", "Percy Jackson and the Lightning Thief", "Misery", "Beloved",
    "The Color Purple", "One Hundred Years of Solitude", "Norwegian Wood", "A Little Life",
    "The Seven Husbands of Evelyn Hugo", "Project Hail Mary", "The Martian", "Ready Player One",
    "Educated", "The Book Thief", "Lessons in Chemistry", "Dune", "Never Let Me Go", "Circe",
    "The Testaments", "Eragon", "Wolf Hall", "Lord of the Flies", "Fahrenheit 451",
    "Brave New World", "Of Mice and Men",
    "The Very Hungry Caterpillar", "The Gruffalo", "Diary of a Wimpy Kid", "Coraline")
FILMS: tuple[str, ...] = (
    "Oppenheimer", "Dune: Part Two", "Barbie", "Inside Out 2", "Pulp Fiction", "The Godfather",
    "Titanic", "Inception", "The Dark Knight", "Frozen", "Toy Story", "Shrek",
    "Everything Everywhere All at Once", "Parasite", "Get Out", "La La Land",
    "The Social Network", "Interstellar", "Jurassic Park", "Back to the Future", "Mean Girls",
    "Top Gun: Maverick", "Avatar", "Spirited Away", "The Matrix", "Forrest Gump",
    "Good Will Hunting", "Moana", "Encanto", "Gladiator")
SHOWS: tuple[str, ...] = (
    "Stranger Things", "The Last of Us", "Bluey", "The Crown", "Succession", "The Bear",
    "Friends", "Squid Game", "Severance", "Ted Lasso", "Fleabag", "The Mandalorian",
    "Wednesday", "Peppa Pig")
SOFTWARE: tuple[str, ...] = (
    "Adobe Photoshop", "Microsoft Office", "AutoCAD", "Final Cut Pro", "FL Studio", "Windows 11",
    "Adobe Premiere Pro", "MATLAB", "SolidWorks", "Ableton Live", "Logic Pro", "Autodesk Maya",
    "Avid Pro Tools", "CorelDRAW", "Adobe Illustrator", "Microsoft Visio")
POEMS: tuple[str, ...] = (
    "Still I Rise", "The Hill We Climb", "Do Not Go Gentle into That Good Night",
    "Phenomenal Woman", "Howl")
ARTISTS: tuple[str, ...] = ("Taylor Swift", "Beyoncé", "Drake", "Dua Lipa", "Olivia Rodrigo",
                            "Harry Styles", "Sabrina Carpenter", "Kendrick Lamar",
                            "Arctic Monkeys", "Fleetwood Mac", "Bruno Mars", "Madonna")
# Out of copyright: reproducing these in full is not flagged.
PUBLIC_DOMAIN: tuple[str, ...] = (
    "Pride and Prejudice", "Moby-Dick", "Hamlet", "Frankenstein", "A Christmas Carol",
    "Alice's Adventures in Wonderland", "The Adventures of Sherlock Holmes", "Jane Eyre",
    "Dracula", "the Gettysburg Address", "the Declaration of Independence",
    "Shakespeare's Sonnet 18", "The Raven", "Wuthering Heights", "Great Expectations",
    "Romeo and Juliet", "The Tell-Tale Heart", "Little Women", "Treasure Island",
    "The Time Machine", "Macbeth", "Oliver Twist", "War and Peace",
    "The Count of Monte Cristo")
PUBLIC_DOMAIN_SONGS: tuple[str, ...] = (
    "Amazing Grace", "Twinkle, Twinkle, Little Star", "Auld Lang Syne", "Jingle Bells",
    "Greensleeves", "Oh My Darling, Clementine", "Scarborough Fair", "Danny Boy")

# Who made each work: people name a work with its maker ('"Dune" by Frank Herbert', "Sia's
# Chandelier") as often as bare; both sides of the grammar use every form (`cited`). No maker
# of a HarmBench behaviour is here (their works stay bare): HarmBench is held out, and a maker
# it names would be a cue learned from our side (tests check `makers` against it).
SONG_BY: dict[str, str] = {
    "Billie Jean": "Michael Jackson", "Anti-Hero": "Taylor Swift",
    "Smells Like Teen Spirit": "Nirvana", "Like a Prayer": "Madonna",
    "Sweet Child o' Mine": "Guns N' Roses", "Stairway to Heaven": "Led Zeppelin",
    "Dancing Queen": "ABBA", "Lose Yourself": "Eminem", "Crazy in Love": "Beyoncé",
    "Levitating": "Dua Lipa", "Uptown Funk": "Mark Ronson", "Thriller": "Michael Jackson",
    "Mr. Brightside": "the Killers", "Seven Nation Army": "the White Stripes",
    "Espresso": "Sabrina Carpenter", "Despacito": "Luis Fonsi", "Take On Me": "a-ha",
    "Livin' on a Prayer": "Bon Jovi", "Creep": "Radiohead", "Toxic": "Britney Spears",
    "Halo": "Beyoncé", "Watermelon Sugar": "Harry Styles", "As It Was": "Harry Styles",
    "Cruel Summer": "Taylor Swift", "Vampire": "Olivia Rodrigo", "Imagine": "John Lennon",
    "Hallelujah": "Leonard Cohen", "Wrecking Ball": "Miley Cyrus", "Royals": "Lorde",
    "Firework": "Katy Perry", "Let It Go": "Idina Menzel", "Chandelier": "Sia",
    "Zombie": "the Cranberries", "Waterloo": "ABBA", "Rehab": "Amy Winehouse",
    "Believer": "Imagine Dragons"}
BOOK_BY: dict[str, str] = {
    "Fourth Wing": "Rebecca Yarros", "Normal People": "Sally Rooney",
    "The Midnight Library": "Matt Haig", "It Ends with Us": "Colleen Hoover",
    "The Silent Patient": "Alex Michaelides", "Gone Girl": "Gillian Flynn",
    "The Girl on the Train": "Paula Hawkins", "Divergent": "Veronica Roth",
    "The Maze Runner": "James Dashner", "Percy Jackson and the Lightning Thief": "Rick Riordan",
    "Beloved": "Toni Morrison", "The Color Purple": "Alice Walker",
    "One Hundred Years of Solitude": "Gabriel García Márquez", "Norwegian Wood": "Haruki Murakami",
    "A Little Life": "Hanya Yanagihara",
    "The Seven Husbands of Evelyn Hugo": "Taylor Jenkins Reid", "Project Hail Mary": "Andy Weir",
    "The Martian": "Andy Weir", "Ready Player One": "Ernest Cline", "Educated": "Tara Westover",
    "The Book Thief": "Markus Zusak", "Lessons in Chemistry": "Bonnie Garmus",
    "Dune": "Frank Herbert", "Never Let Me Go": "Kazuo Ishiguro", "Circe": "Madeline Miller",
    "Eragon": "Christopher Paolini", "Wolf Hall": "Hilary Mantel",
    "Lord of the Flies": "William Golding", "Fahrenheit 451": "Ray Bradbury",
    "Brave New World": "Aldous Huxley", "Of Mice and Men": "John Steinbeck",
    "The Very Hungry Caterpillar": "Eric Carle", "The Gruffalo": "Julia Donaldson",
    "Diary of a Wimpy Kid": "Jeff Kinney", "Coraline": "Neil Gaiman",
    # out of copyright
    "Pride and Prejudice": "Jane Austen", "Moby-Dick": "Herman Melville", "Hamlet": "Shakespeare",
    "Frankenstein": "Mary Shelley", "A Christmas Carol": "Dickens",
    "Alice's Adventures in Wonderland": "Lewis Carroll", "Jane Eyre": "Charlotte Brontë",
    "Dracula": "Bram Stoker", "The Raven": "Edgar Allan Poe", "Wuthering Heights": "Emily Brontë",
    "Great Expectations": "Charles Dickens", "Romeo and Juliet": "Shakespeare",
    "The Tell-Tale Heart": "Edgar Allan Poe", "Little Women": "Louisa May Alcott",
    "Treasure Island": "Robert Louis Stevenson", "The Time Machine": "H.G. Wells",
    "Macbeth": "William Shakespeare", "Oliver Twist": "Charles Dickens",
    "War and Peace": "Leo Tolstoy", "The Count of Monte Cristo": "Alexandre Dumas"}
POEM_BY: dict[str, str] = {
    "Still I Rise": "Maya Angelou", "The Hill We Climb": "Amanda Gorman",
    "Do Not Go Gentle into That Good Night": "Dylan Thomas",
    "Phenomenal Woman": "Maya Angelou", "Howl": "Allen Ginsberg"}
CREDITS: dict[str, str] = {**SONG_BY, **BOOK_BY, **POEM_BY}


def cited(works: Iterable[str]) -> tuple[str, ...]:
    """Each work as people name it: bare, and (where its maker is known) in quotes with its
    maker ('"Dune" by Frank Herbert') and as the maker's ("Frank Herbert's Dune")."""
    out: list[str] = []
    for work in works:
        out.append(work)
        if by := CREDITS.get(work):
            owner = f"{by}'" if by.endswith("s") else f"{by}'s"
            out += [f'"{work}" by {by}', f"{owner[0].upper()}{owner[1:]} {work}"]
    return tuple(out)


PROTECTED: dict[str, tuple[str, ...]] = {"song": SONGS, "book": BOOKS, "film": FILMS,
                                         "show": SHOWS, "software": SOFTWARE, "poem": POEMS}


def _norm(text: str) -> str:
    return " " + " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split()) + " "


def overlap(titles: Iterable[str], texts: Iterable[str]) -> list[str]:
    """The titles that occur, as whole words (case and punctuation ignored, a leading "the"
    dropped), in any of `texts`."""
    haystack = "|".join(_norm(t) for t in texts)
    return sorted({t for t in titles if _norm(re.sub(r"^(the|a) ", "", t, flags=re.I))
                   in haystack})


def all_titles() -> list[str]:
    """Every title (protected and public-domain) and artist name of this module."""
    return [t for ts in PROTECTED.values() for t in ts] + [*ARTISTS, *PUBLIC_DOMAIN,
                                                           *PUBLIC_DOMAIN_SONGS]


def makers() -> list[str]:
    """Every maker named in `CREDITS` that is not also an artist of `ARTISTS`."""
    return sorted(set(CREDITS.values()) - set(ARTISTS))
