"""A master rewritten while transcoding keeps the captions added meanwhile."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from cluster.storage import LocalStore
from pipelines.transcode.publish import Publisher

MASTER = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n"


def test_the_publishers_master_names_the_caption_playlists(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    publisher = Publisher(store=store, plan=cast(Any, None), prefix="hls/v/", staging="s/")
    assert publisher._with_captions("hls/v/master.m3u8", MASTER) == MASTER

    store.put_bytes("hls/v/subs/fr.m3u8", b"#EXTM3U\n")
    store.put_bytes("hls/v/subs/fr.0123.vtt", b"WEBVTT\n")
    store.put_bytes(
        "hls/v/master.m3u8",
        b'#EXTM3U\n#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Francais",'
        b'LANGUAGE="fr",DEFAULT=NO,AUTOSELECT=YES,URI="subs/fr.m3u8"\n',
    )
    master = publisher._with_captions("hls/v/master.m3u8", MASTER).decode()
    assert 'NAME="Francais",LANGUAGE="fr"' in master
    assert master.count("TYPE=SUBTITLES") == 1
    assert '#EXT-X-STREAM-INF:BANDWIDTH=1,SUBTITLES="subs"' in master
