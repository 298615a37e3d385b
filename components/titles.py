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
