"""Real AMF0 captures from ffmpeg and the values they decode to, shared by the AMF tests and bench/amf0_speed.py."""
from srsish.protocol.amf0 import EcmaArray


def h(text: str) -> bytes:
    """Hex with whitespace allowed, so vectors can be laid out field by field."""
    return bytes.fromhex("".join(text.split()))


# ffmpeg 5.1.9 `ffmpeg -i rtmp://127.0.0.1:58733/live/x`: the connect command (type 20) payload,
# reassembled from its two chunks (128 + 69 bytes) as captured after our server's handshake.
FFMPEG_PLAY_CONNECT = h(
    """
    020007636f6e6e656374003ff00000000000000300036170700200046c697665
    0008666c61736856657202000d4c4e5820392c302c3132342c32000574635572
    6c02001b72746d703a2f2f3132372e302e302e313a35383733332f6c69766500
    04667061640100000c6361706162696c697469657300402e000000000000000b
    617564696f436f646563730040afce0000000000000b766964656f436f646563
    7300406f800000000000000d766964656f46756e6374696f6e003ff000000000
    0000000009
    """
)

# ffmpeg 5.1.9 publishing: `ffmpeg -re -f lavfi -i testsrc ... -f flv rtmp://127.0.0.1:44561/live/x`.
FFMPEG_PUBLISH_CONNECT = h(
    """
    020007636f6e6e656374003ff00000000000000300036170700200046c697665
    00047479706502000a6e6f6e707269766174650008666c617368566572020024
    464d4c452f332e302028636f6d70617469626c653b204c61766635392e32372e
    313030290005746355726c02001b72746d703a2f2f3132372e302e302e313a34
    343536312f6c697665000009
    """
)

# ffmpeg 5.1.9's FLV muxer: the onMetaData script tag body of a 0.2 s testsrc (flv1) + sine (aac) file.
FFMPEG_ONMETADATA = h(
    """
    02000a6f6e4d65746144617461080000000c00086475726174696f6e003fcc8b
    4395810625000577696474680040500000000000000006686569676874004048
    000000000000000d766964656f64617461726174650040686a00000000000009
    6672616d6572617465004024000000000000000c766964656f636f6465636964
    004000000000000000000d617564696f6461746172617465004050d880000000
    00000f617564696f73616d706c65726174650040e5888000000000000f617564
    696f73616d706c6573697a65004030000000000000000673746572656f010000
    0c617564696f636f6465636964004024000000000000000866696c6573697a65
    0040b2840000000000000009
    """
)

PLAY_CONNECT_VALUES = [
    "connect",
    1.0,
    {
        "app": "live",
        "flashVer": "LNX 9,0,124,2",
        "tcUrl": "rtmp://127.0.0.1:58733/live",
        "fpad": False,
        "capabilities": 15.0,
        "audioCodecs": 4071.0,
        "videoCodecs": 252.0,
        "videoFunction": 1.0,
    },
]

PUBLISH_CONNECT_VALUES = [
    "connect",
    1.0,
    {
        "app": "live",
        "type": "nonprivate",
        "flashVer": "FMLE/3.0 (compatible; Lavf59.27.100)",
        "tcUrl": "rtmp://127.0.0.1:44561/live",
    },
]

ONMETADATA_VALUES = [
    "onMetaData",
    EcmaArray(
        duration=0.223,
        width=64.0,
        height=48.0,
        videodatarate=195.3125,
        framerate=10.0,
        videocodecid=2.0,
        audiodatarate=67.3828125,
        audiosamplerate=44100.0,
        audiosamplesize=16.0,
        stereo=False,
        audiocodecid=10.0,
        filesize=4740.0,
    ),
]
