import streamlit as st

st.title("Hello from Streamlit")
st.write("2 + 2 =", 2 + 2)
